"""Validation: every key of a composed config known, every value in its range, and the rules between
fields, each a small named function in RULES (the first that fails is reported, so the order is the
order of the checks); and the targets a config may instantiate. All before anything is built: bad
input gets one paragraph naming the key."""

from dataclasses import MISSING as NO_DEFAULT
from dataclasses import fields, is_dataclass
from typing import Any, Callable, Optional

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..errors import UserError
from .datasets import DATASETS, BilinearConfig, TorchvisionFiles
from .fields import RANGES, Init, Order, Output
from .models import BilinearPlayersConfig
from .schema import (
    LOSSES,
    SCHEMAS,
    LSGANConfig,
    NoLensConfig,
    SGDConfig,
    TrainConfig,
    WGANGPConfig,
)
from .suggest import unknown_key_message

Rule = Callable[[Any], Optional[str]]  # the problem with a node, or None


# --- one option's own fields -----------------------------------------------------------------


def split_exists(d: TorchvisionFiles) -> str | None:
    splits = ("train", "test", "extra") if getattr(d, "name", "") == "svhn" else ("train", "test")
    return None if d.split in splits else f"dataset.split must be one of {', '.join(splits)} here"


def lsgan_targets_differ(loss: LSGANConfig) -> str | None:
    return (
        "a and b must differ: D needs distinct targets for real and fake"
        if loss.a == loss.b
        else None
    )


def nesterov_has_momentum(opt: SGDConfig) -> str | None:
    return "nesterov needs momentum > 0" if opt.nesterov and opt.momentum == 0 else None


# --- the whole run: the bilinear game ----------------------------------------------------------


def _game(c: TrainConfig) -> bool:
    return isinstance(c.dataset, BilinearConfig)


def bilinear_pairs(c: TrainConfig) -> str | None:
    if _game(c) != isinstance(c.model, BilinearPlayersConfig):
        return "dataset=bilinear is played by model=bilinear, and model=bilinear plays only dataset=bilinear"


def bilinear_batch(c: TrainConfig) -> str | None:
    if _game(c) and c.trainer.batch_size > c.dataset.dim:
        return (
            f"trainer.batch_size={c.trainer.batch_size} exceeds the game's n = dataset.dim={c.dataset.dim} "
            "(a minibatch draws distinct indices; the full batch is n)"
        )


def bilinear_own_objective(c: TrainConfig) -> str | None:
    if _game(c) and (
        c.loss is not None or not isinstance(c.lens, NoLensConfig) or c.trainer.unroll_steps
    ):
        return "the bilinear game is its own objective: it takes ~loss (no loss), lens=none and no trainer.unroll_steps"


def bilinear_players_are_points(c: TrainConfig) -> str | None:
    if _game(c) and (c.trainer.precision != "fp32" or c.trainer.compile != "off"):
        return (
            "the bilinear game's players are two vectors, not networks: trainer.precision and trainer.compile "
            "do not apply (its loss and distance would lose digits in bf16/fp16); leave them at fp32 and off"
        )


# --- the whole run: G against the data ------------------------------------------------------------


def loss_given(c: TrainConfig) -> str | None:
    if not _game(c) and c.loss is None:
        return "loss is missing: pick one with loss=NAME"


def output_makes_the_data(c: TrainConfig) -> str | None:
    """G's last activation produces the data's range (images), or nothing bounded (2-D points)."""
    data_range = tuple(getattr(c.dataset, "range", ())) or None
    expected = RANGES.get(data_range, "none")
    if c.model.output == expected:
        return None
    if not data_range:
        return (
            f"model.output={c.model.output.value} makes images, but the dataset is 2-D points "
            "(unbounded toy data): use a model for points, model=mlp (model.output=none)"
        )
    return (
        f"model.output={c.model.output.value} cannot produce the data's range {list(data_range)}; "
        f"use model.output={expected}, or leave dataset.range to follow model.output"
    )


def goodfellow_init_has_images(c: TrainConfig) -> str | None:
    if c.model.init == Init.goodfellow and c.model.output == Output.none:
        return (
            "model.init=goodfellow starts G's output bias from the data's mean pixels: it needs images "
            "and an output activation (model.output=sigmoid or tanh)"
        )


# --- the whole run: how the players step --------------------------------------------------------


def extragradient_is_simultaneous(c: TrainConfig) -> str | None:
    if c.optimizer.extragradient and c.trainer.order != Order.simultaneous:
        return (
            "optimizer.extragradient is Gidel et al.'s joint method: both players extrapolate "
            "together, so it needs trainer.order=simultaneous (the k-1 extra D steps, if any, "
            "are extragradient steps of D alone)"
        )


def compile_first_order(c: TrainConfig) -> str | None:
    t = c.trainer
    if t.compile != "off" and t.unroll_steps and t.unroll_second_order:
        return (
            "trainer.compile cannot take second-order unrolling: G's gradient goes back through D's "
            "unrolled gradients, a double backward that torch.compile's graphs do not support; use "
            "trainer.unroll_second_order=false (then G is compiled, D stays eager) or trainer.compile=off"
        )


def fp16_scales_every_gradient(c: TrainConfig) -> str | None:
    t = c.trainer
    if t.precision == "fp16" and (t.unroll_steps or isinstance(c.loss, WGANGPConfig)):
        where = (
            "the unrolled D's inner steps take their gradients unscaled"
            if t.unroll_steps
            else "WGAN-GP's penalty differentiates D's unscaled gradient"
        )
        return (
            f"trainer.precision=fp16 scales each player's loss for its backward, but {where} "
            "(fp16 underflows there); use trainer.precision=bf16 (no scaling needed) or fp32"
        )


def extragradient_or_unroll(c: TrainConfig) -> str | None:
    if c.optimizer.extragradient and c.trainer.unroll_steps:
        return (
            "trainer.unroll_steps unrolls D's base optimizer step, not an extragradient step: "
            "use one of optimizer.extragradient and trainer.unroll_steps"
        )


RULES: dict[type, list[Rule]] = {
    TorchvisionFiles: [split_exists],
    LSGANConfig: [lsgan_targets_differ],
    SGDConfig: [nesterov_has_momentum],
    TrainConfig: [
        bilinear_pairs,
        bilinear_batch,
        bilinear_own_objective,
        bilinear_players_are_points,
        loss_given,
        output_makes_the_data,
        goodfellow_init_has_images,
        extragradient_is_simultaneous,
        compile_first_order,
        fp16_scales_every_gradient,
        extragradient_or_unroll,
    ],
}


def validate(cfg: DictConfig) -> None:
    """Raise UserError naming the first key whose value is missing, unknown or out of range, or
    the first rule between fields the config breaks."""
    try:  # resolved: an interpolation may build a node (oc.create) that instantiation would call
        check_targets(OmegaConf.to_container(cfg, resolve=True))
        obj = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        raise UserError(f"Invalid config: {e}") from None
    check(obj, cfg, "", RULES)


def check(obj: Any, node: DictConfig, path: str, rules: dict[type, list[Rule]]) -> None:
    """`obj` (a dataclass made from `node`) and its fields, depth first: unknown keys, fixed keys,
    each field's range, then the `rules` of its type."""
    names = {f.name for f in fields(obj)}
    unknown = sorted(set(node.keys()) - names)
    if unknown:
        raise UserError(unknown_key_message(path + unknown[0], sorted(names)))
    for f in fields(obj):
        value, key = getattr(obj, f.name), path + f.name
        if f.name in FIXED and f.default is not MISSING and value != f.default:
            raise UserError(
                f"{key} cannot be set (to {value!r}): it is the option's own. Pick another option "
                f"of the group instead (e.g. {path.split('.')[0] or 'loss'}=NAME)."
            )
        if "ok" in f.metadata and not f.metadata["ok"](value):
            raise UserError(f"Invalid value {key}={value!r}: {f.metadata['rule']}.")
        if is_dataclass(value):
            check(value, node[f.name], key + ".", rules)
        elif isinstance(value, (list, dict)):  # a claim's conditions, its scales
            items = enumerate(value) if isinstance(value, list) else value.items()
            for i, item in items:
                if is_dataclass(item):
                    check(item, node[f.name][i], f"{key}.{i}.", rules)
    for cls, checks in rules.items():
        problem = next((p for rule in checks if isinstance(obj, cls) and (p := rule(obj))), None)
        if problem:
            where = f" at '{path.rstrip('.')}'" if path else ""
            raise UserError(f"Invalid config{where}: {problem}.")


def dataset_kind(dataset: DictConfig) -> str:
    """The kind its schema declares (metrics.KINDS)."""
    kind = getattr(OmegaConf.get_type(dataset), "kind", None)
    if kind is None:
        raise UserError(
            "The dataset config extends no dataset schema: start it with `defaults: "
            f"[/schema/dataset/<one of {', '.join(DATASETS)}>@_here_]`."
        )
    return (
        kind if isinstance(kind, str) else OmegaConf.to_object(dataset).kind
    )  # a property: per option


FIXED = ("_target_", "_partial_")  # an option's own: set by picking another option, never by hand


def _targets(node: Any) -> set[str]:
    """The `_target_` of a schema node (a dataclass or an instance) and of the nodes its fields hold."""
    found = set()
    for f in fields(node):
        if not isinstance(node, type):
            value = getattr(node, f.name)
        elif f.default_factory is not NO_DEFAULT:
            value = f.default_factory()
        else:
            value = f.default
        if f.name == "_target_" and value not in (MISSING, NO_DEFAULT):
            found.add(value)
        for sub in (value, f.type):  # the node set, or the schema of the field
            if is_dataclass(sub):
                found |= _targets(sub)
    return found


# What instantiation may call: the targets the schema declares, nothing a config file or an override
# names (a run directory is input, not code).
TARGETS = frozenset(
    set(LOSSES)
    | {t for nodes in SCHEMAS.values() for node in nodes.values() for t in _targets(node)}
)


def check_targets(tree: Any, path: str = "") -> None:
    """Refuse a config (e.g. a run's .hydra/config.yaml) that would instantiate anything but the
    schema's own targets, or pass positional arguments to one."""
    if isinstance(tree, dict):
        for key, sub in tree.items():
            where = f"{path}{key}"
            if key == "_args_":
                raise UserError(f"{where} is not allowed: configs name options, not calls.")
            if key == "_target_" and sub not in TARGETS:
                raise UserError(
                    f"{where}={sub!r} is not one of gan-runner's own targets: refusing to "
                    "instantiate it. Pick an option of the group instead."
                )
            check_targets(sub, where + ".")
    elif isinstance(tree, list):
        for i, sub in enumerate(tree):
            check_targets(sub, f"{path}{i}.")
