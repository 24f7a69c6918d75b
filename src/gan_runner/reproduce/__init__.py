"""`gan-runner-reproduce`: a published claim from one command.

An experiment preset (conf/experiment/NAME.yaml) holds the paper's setup, its sweep and its `claim`:
the metrics, the table's rows and columns, the paper's reported numbers and the rule that decides
whether the claim held. `reproduce` runs the sweep through `gan-runner -m` (any launcher: its
overrides pass through) into one directory per claim and scale, so running the same command again
continues an interrupted reproduction (each job from its checkpoint; finished jobs are kept), then
`report` reads the job directories (never the code they name: run_dir and summary read records as
data), prints the paper's table beside ours with the verdict, and writes REPORT.md and figure.png
into the sweep directory. A partial sweep is reported as far as it got.

    claims.py    a preset's claim: its schema and checks, the presets that hold one
    verdict.py   whether a claim held: conditions, comparisons, preconditions (records only)
    records.py   a sweep directory's records: the reproduce invocations, the jobs
    report.py    the table and REPORT.md
    figure.py    figure.png
    sweep.py     running the sweep (any launcher), continuing it from its records
    command.py   the command line
"""
