"""README.md and docs/*.md in step with the commands: every console command they name exists; every
--flag a code block (or an inline `gan-runner ...` span) gives one of them is in its parser; and
every override such a command line writes (key=value, group=option, +experiment=NAME, ~group, a
sweep's key=a,b) names a key the composed config has or an option its group has. Placeholder
values (DIR, N, $HOME/...) are fine: a key is checked, not its value. Also: docs/configs.md names
every option conf/ ships, and every link between the pages reaches a file and heading. A failure
names the doc's file and line."""

import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from omegaconf import OmegaConf

from gan_runner.config.store import register

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
# pyproject.toml's [project.scripts] (tomllib is not in Python 3.10): name -> "module:function"
SCRIPTS = dict(
    re.findall(
        r'^([\w-]+)\s*=\s*"([\w.:]+)"',
        (REPO / "pyproject.toml").read_text().split("[project.scripts]")[1].split("\n[")[0],
        re.M,
    )
)
# a command's name, not a path's end (~/.cache/gan-runner)
COMMAND = re.compile(r"(?<![\w/.-])gan-runner(?:-[a-z]+)*(?![\w-])")
# Hydra's flags that take a value (gan-runner's others are switches: -m, --help, --resolve, ...)
HYDRA_VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name"}
HYDRA_VALUE_FLAGS |= {"-cn", "--config-dir", "-cd", "--experimental-rerun", "--info", "-i"}
INFO_VALUES = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}
# the commands whose free arguments are gan-runner overrides (eval: after its RUN_DIR; reproduce:
# after its claim, on top of that claim's preset)
TAKES_OVERRIDES = {"gan-runner", "gan-runner-classifier", "gan-runner-eval", "gan-runner-reproduce"}
SHELL_SEPARATORS = {"&&", "||", ";", "|"}


@dataclass
class Line:
    """One command in a doc: where it is, and its words after the command's name."""

    where: str  # file:line
    command: str  # the console script, e.g. gan-runner-table
    args: list[str]
    # the options its page tells the reader to write (`conf/model/mynet.yaml`: model/mynet), which
    # conf/ does not ship
    written: frozenset[str] = frozenset()

    def __str__(self) -> str:
        return f"{self.where}: {self.command} {' '.join(self.args)}"


def code_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, shell line) of the docs' shell code blocks (a ``` block with no language, bash,
    sh, shell or console): a `$ ` prompt dropped, backslash continuations joined, heredoc bodies
    skipped."""
    lines = text.splitlines()
    i, fence = 0, None
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip()
            i += 1
            continue
        if fence is None or fence not in ("", "bash", "sh", "shell", "console"):
            i += 1
            continue
        start, line = i + 1, lines[i]
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1] + " " + lines[i].strip()
        i += 1
        if heredoc := re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line):
            while i < len(lines) and lines[i].strip() != heredoc.group(1):
                i += 1
            i += 1
        yield start, line.strip().removeprefix("$ ")


def command_name(word: str) -> str | None:
    """The command a shell word runs: gan-runner-table, or .venv/bin/gan-runner-table."""
    found = re.fullmatch(r"(?:\S*/bin/)?(gan-runner(?:-[a-z]+)*)", word)
    return found.group(1) if found else None


def inline_code(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of the prose's `code` spans that start with a command, e.g.
    `gan-runner-sample RUN --best ...` (a span may go on over one line break)."""
    lines = text.splitlines()
    fenced, inside = set(), False
    for i, line in enumerate(lines):
        if line.strip().startswith("```"):
            inside = not inside
        if inside or line.strip().startswith("```"):
            fenced.add(i)
    prose = "\n".join("" if i in fenced else line for i, line in enumerate(lines))
    for span in re.finditer(r"`([^`\n]+(?:\n[^`\n]+)?)`", prose):
        code = " ".join(span.group(1).split())
        if command_name(code.split()[0]):
            yield prose.count("\n", 0, span.start()) + 1, code


def commands_in(path: Path) -> Iterator[Line]:
    """Every gan-runner command in the file's code blocks and inline code, one per shell command."""
    text = path.read_text()
    written = frozenset(re.findall(r"conf/([\w/]+/\w+)\.yaml", text))
    for number, line in [*code_lines(text), *inline_code(text)]:
        if not COMMAND.search(line):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError as e:  # an unclosed quote: wrong in a command, fine in a tree's prose
            if command_name(line.split()[0]):
                raise AssertionError(
                    f"{path.relative_to(REPO)}:{number}: cannot split {line!r}: {e}"
                ) from e
            words = line.split("#")[0].split()
        command: list[str] = []
        for word in [*words, ";"]:
            if word in SHELL_SEPARATORS:
                if command and (name := command_name(command[0])):
                    where = f"{path.relative_to(REPO)}:{number}"
                    yield Line(where, name, command[1:], written)
                command = []
            else:
                command.append(word)


def all_commands() -> list[Line]:
    return [line for path in DOCS for line in commands_in(path)]


def is_override(word: str) -> bool:
    """key=value, +group=option, ~key; not a path such as ~/presets or a flag."""
    return not word.startswith("-") and ("=" in word or re.match(r"~[A-Za-z_]", word) is not None)


# --- (a) the commands -----------------------------------------------------------------------------


def test_every_command_named_in_the_docs_is_installed():
    problems = [
        f"{path.relative_to(REPO)}:{number}: {name} is not a console script of pyproject.toml "
        f"(there: {', '.join(SCRIPTS)})"
        for path in DOCS
        for number, text in enumerate(path.read_text().splitlines(), 1)
        for name in COMMAND.findall(text)
        if name not in SCRIPTS
    ]
    assert not problems, "\n".join(problems)


# --- (b) the flags --------------------------------------------------------------------------------


@cache
def help_text(command: str) -> str:
    """What the command says its flags are: Hydra's flag list for gan-runner (--hydra-help), `--help`
    for the others (every one exits 0: tests/test_cli.py)."""
    flag = "--hydra-help" if command == "gan-runner" else "--help"
    proc = subprocess.run(
        [str(BIN / command), flag], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{command} {flag} failed:\n{text[-3000:]}"
    return text


def test_every_flag_in_the_docs_is_in_its_commands_parser():
    lines = [line for line in all_commands() if any(w.startswith("-") for w in line.args)]
    problems = []
    for line in lines:
        if line.command not in SCRIPTS:
            continue  # the test above names it
        text = help_text(line.command)
        for word in line.args:
            flag = word.split("=", 1)[0]
            if not re.fullmatch(r"--?[a-z][a-z-]*", flag):
                continue  # not a flag: a value such as -1 or a path
            if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text):
                problems.append(f"{line}\n    {flag} is not a flag of {line.command}")
    assert not problems, "\n".join(problems)


# --- (c) the overrides ----------------------------------------------------------------------------


def conf_dir() -> str:
    import gan_runner

    return gan_runner.CONF_DIR


@pytest.fixture(scope="module")
def hydra_composer():
    register()  # the schema in Hydra's ConfigStore, as the entry points put it there
    with initialize_config_dir(config_dir=conf_dir(), version_base=None):
        yield composer


@cache
def composer(overrides: tuple[str, ...]) -> dict | str:
    """The composed config (Hydra's node included) as plain containers, nothing resolved; or why
    Hydra could not compose it."""
    try:
        cfg = compose("train", list(overrides), return_hydra_config=True)
    except Exception as e:  # a missing option, a wrong group, a key the schema lacks
        return f"{type(e).__name__}: {e}".split("\n")[0]
    return OmegaConf.to_container(cfg, resolve=False)


def has_key(cfg: dict, key: str) -> bool:
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def is_group(key: str) -> bool:
    """A config group (conf/<key>/, e.g. loss or experiment/lookahead_mnist) or one of Hydra's own
    (hydra/launcher, hydra/sweeper)."""
    return "/" in key or (Path(conf_dir()) / key).is_dir()


def choices(override: Override) -> list[str]:
    """The options a group override names: one, or each of a sweep's."""
    if override.is_sweep_override():
        return [str(v) for v in override.sweep_string_iterator()]
    return [str(override.value())]


def group_override(override: Override, option: str) -> str:
    prefix = {OverrideType.ADD: "+", OverrideType.FORCE_ADD: "++"}.get(override.type, "")
    package = f"@{override.package}" if override.package else ""
    return f"{prefix}{override.key_or_group}{package}={option}"


def overrides_of(line: Line) -> tuple[list[str], bool]:
    """The overrides the line gives, with its claim's preset first for gan-runner-reproduce; and
    whether it names a config directory of the user's own (whose presets this test cannot see)."""
    args, words = line.args, []
    i = 0
    while i < len(args):
        word = args[i]
        if word in HYDRA_VALUE_FLAGS and line.command == "gan-runner":
            i += 1  # its value
            if word in ("--info", "-i") and i < len(args) and args[i] not in INFO_VALUES:
                i -= 1  # --info's value is optional
        elif is_override(word):
            words.append(word)
        i += 1
    own_dir = any(a.split("=")[0] in ("--config-dir", "-cd") for a in args) or any(
        w.startswith("hydra.searchpath=") for w in words
    )
    if line.command == "gan-runner-reproduce":
        name = next((a for a in args if not a.startswith("-") and not is_override(a)), None)
        if name and re.fullmatch(r"[a-z0-9_]+", name) and "--report" not in args:
            words.insert(0, f"+experiment={name}")  # its overrides go on top of the claim's preset
    return words, own_dir


def override_problems(line: Line) -> list[str]:
    """What is wrong with the line's overrides: its group options are composed (each of a sweep's in
    turn), and each key=value's key is looked up in the config they make."""
    words, own_dir = overrides_of(line)
    parser = OverridesParser.create()
    parsed, problems = [], []
    for word in words:
        try:
            parsed.append(parser.parse_overrides([word])[0])
        except Exception as e:  # Hydra's grammar refuses it
            problems.append(f"{word}: Hydra cannot parse it: {str(e).splitlines()[0]}")
    groups = [o for o in parsed if is_group(o.key_or_group)]

    def shipped(o: Override) -> bool:
        return all((Path(conf_dir()) / o.key_or_group / f"{c}.yaml").is_file() for c in choices(o))

    def users(o: Override) -> bool:
        """An option of the reader's own: in their config directory, or one the page has them
        write."""
        if o.type == OverrideType.DEL or o.key_or_group.startswith("hydra/") or shipped(o):
            return False
        return own_dir or all(f"{o.key_or_group}/{c}" in line.written for c in choices(o))

    # conf/ cannot compose the reader's own options: left out, the line's keys are still checked
    groups = [o for o in groups if not users(o)]

    def picked(o: Override, option: str | None = None) -> str:
        if o.type == OverrideType.DEL:
            return o.input_line
        return group_override(o, choices(o)[0] if option is None else option)

    cfg = composer(tuple(picked(o) for o in groups))
    if isinstance(cfg, str):  # name the options that fail on their own, and go on without them
        bad = [o for o in groups if isinstance(composer((picked(o),)), str)]
        problems += [f"{picked(o)}: {composer((picked(o),))}" for o in bad]
        groups = [o for o in groups if all(o is not b for b in bad)]
        cfg = composer(tuple(picked(o) for o in groups))
        if isinstance(cfg, str):
            return [*problems, f"{' '.join(picked(o) for o in groups)}: {cfg}"]
    base = [picked(o) for o in groups]
    for i, o in enumerate(groups):  # a sweep's other options, each in place of the first
        for option in choices(o)[1:] if o.type != OverrideType.DEL else []:
            if isinstance(why := composer((*base[:i], picked(o, option), *base[i + 1 :])), str):
                problems.append(f"{picked(o, option)}: {why}")
    for o in parsed:
        if is_group(o.key_or_group):
            continue
        if o.type in (OverrideType.ADD, OverrideType.FORCE_ADD):  # a new key: as Hydra decides
            ok = not isinstance(composer((*base, o.input_line)), str)
        else:  # key=value, ~key
            ok = has_key(cfg, o.key_or_group)
        if not ok:
            problems.append(f"{o.input_line}: no key {o.key_or_group} in the composed config")
    return problems


def test_every_override_in_the_docs_names_a_key_or_option(hydra_composer):
    lines = [line for line in all_commands() if line.command in TAKES_OVERRIDES]
    assert len(lines) > 20, "the docs' command lines were not found"
    problems = [f"{line}\n    {p}" for line in lines for p in override_problems(line)]
    problems += [  # the others take files and flags only
        f"{line}\n    {line.command} takes no overrides: {word}"
        for line in all_commands()
        if line.command in SCRIPTS and line.command not in TAKES_OVERRIDES
        for word in line.args
        if is_override(word)
    ]
    assert not problems, "\n".join(problems)


def test_a_wrong_key_is_caught(hydra_composer):
    """The check itself: a misspelt key, option or group fails, a placeholder value does not."""
    good = Line("x:1", "gan-runner", ["dataset=mnist", "dataset.root=DIR", "trainer.steps=N"])
    assert override_problems(good) == []
    for word in ("trainer.stepz=10", "loss=lsgn", "-m loss=lsgan,hingee", "+experiment=nope"):
        assert override_problems(Line("x:1", "gan-runner", word.split())), word
    assert override_problems(Line("x:1", "gan-runner-reproduce", ["unrolled_ring", "trainer.x=1"]))
    # an option the page has the reader write (conf/model/mynet.yaml), or one in their --config-dir
    written = Line("x:1", "gan-runner", ["model=mynet"], frozenset({"model/mynet"}))
    own_dir = Line("x:1", "gan-runner", ["+experiment=mine", "--config-dir", "~/presets"])
    assert override_problems(written) == [] and override_problems(own_dir) == []
    assert override_problems(Line("x:1", "gan-runner", ["model=mynet"]))


def test_every_option_is_in_the_configs_page():
    """docs/configs.md names every option of every group conf/ ships (an experiment preset's arms,
    in its sub-folders, are the preset's own business)."""
    page = (REPO / "docs" / "configs.md").read_text()
    conf = Path(conf_dir())
    missing = [
        f"{group.name}={option.stem}"
        for group in sorted(conf.iterdir())
        if group.is_dir() and group.name != "hydra"
        for option in sorted(group.glob("*.yaml"))
        if f"`{option.stem}`" not in page
    ]
    assert not missing, f"docs/configs.md does not name these options: {', '.join(missing)}"


def anchors(path: Path) -> set[str]:
    """The #anchors of a page's headings, as GitHub makes them."""
    headings = re.findall(
        r"^#+\s+(.+?)\s*$", re.sub(r"```.*?```", "", path.read_text(), flags=re.S), re.M
    )
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_link_between_the_pages_resolves():
    problems = []
    for path in DOCS:
        for number, text in enumerate(path.read_text().splitlines(), 1):
            for target in re.findall(r"\]\(([^)\s]+)\)", text):
                if re.match(r"[a-z]+://", target):
                    continue  # the web: not checked here
                file, _, anchor = target.partition("#")
                linked = (path.parent / file).resolve() if file else path
                if not linked.exists():
                    problems.append(f"{path.relative_to(REPO)}:{number}: no file {target}")
                elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                    problems.append(
                        f"{path.relative_to(REPO)}:{number}: no heading #{anchor} in {file or path.name}"
                    )
    assert not problems, "\n".join(problems)
