"""The config: what a run may be set to, checked before anything is built.

fields.py     a field with a range rule; the common ranges and enumerations
datasets.py   the dataset options' schemas (each with its kind: which metrics fit it)
models.py     the model options' schemas
schema.py     the rest of the run's: loss, optimizer, lens, trainer, metrics; SCHEMAS, the registry
rules.py      validate: unknown keys, ranges, the rules between fields; the targets allowed
resolvers.py  `${name:...}` values derived from other settings
compat.py     keys renamed or added, targets moved since records were written; the flat view
compose.py    composing without running (all of Hydra's private API), instantiating
store.py      register(): the schema in Hydra's ConfigStore, the resolvers in OmegaConf; the
              entry points call it before Hydra composes (importing registers nothing)
"""
