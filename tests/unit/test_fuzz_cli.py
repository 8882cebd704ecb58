"""Hostile-input fuzz of the ``groupcomp`` command line, in process (issue 12).

A table of generated cases over every command (``groups show``, ``theory``, ``theory scaling``,
``train``, ``arith``, ``plot``, ``--resume``, ``collect``, ``cogs``) and every config key of both
schemas: for each key, values chosen by its type (negative, zero, 10³⁰, a 5000-digit integer,
NaN, inf, empty, ``???``, a list, a mapping, a string, a boolean, an interpolation...). Each
case asserts:

* no traceback and an exit code of 2 with one line on stderr naming the key (or argument /
  file), or a documented success;
* for a value the key's rule (written here, independently of the validator) says is illegal:
  exit code 2; for a legal one: acceptance; an accepted config satisfies the rule;
* bounded time (an alarm turns a hang into a failure) and, over the whole table, bounded memory;
* nothing is written outside the case's ``--out`` (the working directory and the folders above
  the test's temporary folder are unchanged).

No case trains: ``runs.execute._run`` is replaced by a stub that records the built experiment's
config and stops, so an accepted ``train`` / ``arith`` case costs one ``build`` (validation,
resource estimate, model) and writes only its run folder under ``--out``. ``--resume`` cases
continue tiny real runs (a few steps).
"""

from __future__ import annotations

import importlib
import io
import math
import os
import resource
import shutil
import signal
import time
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from groupcomp import cli
from groupcomp.config.loader import ALL_KEYS, _all_keys

execute_mod = importlib.import_module("groupcomp.runs.execute")  # the module, not the function

BIG = "9" * 5000
#: per-case limit (s): an alarm fails the case instead of hanging the suite
CASE_TIMEOUT = 60
#: per-case time reported as slow (s); asserted for validation failures
FAST = 10.0


# ---------------------------------------------------------------------------------------------
# rules: which values of each key are legal (written from the README's key reference, not from
# the validator). A rule maps the YAML-parsed raw value to True (legal), False (illegal) or
# None (depends on conversions: only "accepted => the config satisfies the rule" is checked).

MAX_SEED = 2**63 - 1


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def INT(lo: int, hi: int, null: bool = False, auto: bool = False) -> Callable[[Any], bool]:
    return lambda x: (null and x is None) or (auto and x == "auto") or (_int(x) and lo <= x <= hi)


def FLOAT(ok: Callable[[float], bool], null: bool = False, auto: bool = False):
    return lambda x: (null and x is None) or (auto and x == "auto") or (_num(x) and ok(x))


def BOOL(*allowed: bool) -> Callable[[Any], bool]:
    return lambda x: isinstance(x, bool) and x in allowed


def ENUM(*values: str) -> Callable[[Any], bool]:
    return lambda x: isinstance(x, str) and x in values


def SEEDS(x: Any) -> bool:
    return (
        isinstance(x, list)
        and len(x) >= 1
        and all(_int(s) and 0 <= s <= MAX_SEED for s in x)
        and len(set(x)) == len(x)
    )


def BETAS(x: Any) -> bool:
    return isinstance(x, list) and len(x) == 2 and all(_num(b) and 0 <= b < 1 for b in x)


def POWERS_D3(x: Any) -> bool:
    return isinstance(x, list) and len(x) == 3 and all(_num(p) and p >= 0 for p in x) and any(x)


def UNKNOWN(x: Any) -> None:
    return None


SIZE = 2**40
COMMON: dict[str, Callable[[Any], Any]] = {
    "kind": UNKNOWN,  # fixed per command; a wrong kind is refused (checked by the invariant)
    "preset": UNKNOWN,  # a name; strings convert
    "group": UNKNOWN,
    "optim.weight_decay": FLOAT(lambda v: v >= 0),
    "optim.betas": BETAS,
    "optim.grad_clip": FLOAT(lambda v: v > 0, null=True),
    "train.seeds": SEEDS,
    "train.batch_size": INT(1, SIZE, null=True),
    "train.dtype": ENUM("float32", "float64"),
    "train.device": ENUM("cpu"),  # no GPU in the test
    "train.threads": INT(1, 1024, null=True),
    "train.log_points": INT(2, 100_000),
    "train.checkpoints": INT(1, 10_000),
    "train.checkpoint_every": INT(1, 10**12, null=True),
    "train.progress": BOOL(True, False),
}
SEQUENCE_RULES: dict[str, Callable[[Any], Any]] = {
    **COMMON,
    "optim.weight_decay": FLOAT(lambda v: v == 0),  # d3 trains with per-neuron SGD: none
    "template.kind": ENUM("powers"),  # other kinds need their own parameters: refused or fine
    "template.powers": POWERS_D3,
    "template.scale": FLOAT(lambda v: v != 0),
    "template.sigma": FLOAT(lambda v: v > 0),
    "template.bumps": INT(0, 6),
    "template.std": FLOAT(lambda v: v > 0),
    "template.digit": INT(0, 9),
    "template.index": INT(0, SIZE),
    "template.seed": INT(0, MAX_SEED, null=True),
    "task.k": INT(2, 3),  # legal up to 100; D3 beyond k=3 is slow to build, not offered below
    "task.data": ENUM("exhaustive"),  # online / sampled need more keys
    "task.num_samples": INT(0, -1, null=True),  # only with task.data=sampled
    "task.sample_seed": INT(0, MAX_SEED),
    "task.val_fraction": FLOAT(lambda v: 0 <= v < 1 and round(v * 36) < 36),
    "model.name": ENUM("two_layer", "rnn", "tree"),
    "model.hidden": INT(1, 10**6),
    "model.activation": ENUM("power", "square", "relu", "gelu", "tanh", "linear", "silu"),
    "model.init_scale": FLOAT(lambda v: v > 0),
    "model.transition": ENUM("quadratic", "multiplicative"),
    "model.output_every_step": BOOL(False),  # only for the RNN
    "optim.name": UNKNOWN,
    "optim.lr": FLOAT(lambda v: v > 0, auto=True),
    "optim.momentum": FLOAT(lambda v: 0 <= v < 1),
    "optim.adam_lr": FLOAT(lambda v: v > 0, null=True),
    "train.engine": ENUM("auto", "torch"),  # numba may not apply
    "train.steps": INT(1, 10**12, auto=True),
    "theory.agf": BOOL(True, False),
}
ARITH_RULES: dict[str, Callable[[Any], Any]] = {
    **COMMON,
    "loss": ENUM("mse", "ce"),
    "task.op": ENUM("auto", "compose"),
    "task.expression": UNKNOWN,
    "task.k": INT(2, 3),
    "split.mode": ENUM("fraction", "critical"),
    "split.train_fraction": FLOAT(lambda v: 0 < v < 1),
    "split.c": FLOAT(lambda v: v > 0),
    "split.offset": FLOAT(lambda v: v > 0),
    "split.nonabelian_correction": BOOL(True, False),
    "split.seed": INT(0, MAX_SEED, null=True),
    "model.hidden": INT(1, 10**5),
    "model.activation": UNKNOWN,
    "model.embedding": ENUM("onehot", "learned"),
    "model.embed_dim": INT(23, 23, null=True),  # one-hot: must equal M
    "model.layers": INT(1, 1000),
    "model.ridge": BOOL(True, False),
    "model.ridge_lambda": FLOAT(lambda v: v >= 0),
    "model.init_scale": FLOAT(lambda v: v > 0),
    "optim.name": UNKNOWN,
    "optim.lr": FLOAT(lambda v: v > 0),
    "optim.momentum": FLOAT(lambda v: 0 <= v < 1, null=True),
    "train.engine": ENUM("auto", "torch"),
    "train.epochs": INT(1, 10**6),
    "train.stop_after_grok": INT(0, 10**12, null=True),
}

#: hostile values (override text) for each kind of key: every key gets the first ones and one
#: of the extras (rotating over the keys), so that the table stays small but every value is used
VALUES: dict[str, tuple[list[str], list[str]]] = {
    "int": (["-1", "0", "1", BIG, "???"], ["1" + "0" * 30, "1.5", "abc", "[1]", "true", ""]),
    "float": ([".nan", "-1", "0.5", ".inf", "???"], ["0", "-.inf", BIG, "abc", "[1]", "true"]),
    "bool": (["2", "false", "???"], ["abc", "[1]", "", "{a: 1}"]),
    "enum": (["abc", "???", "{a: 1}"], ["0", "[1]", ""]),
    "list": (
        ["[]", "[-1]", "[.nan, 0.5]", "abc", "???"],
        ["{a: 1}", "[[1]]", "[1, 1]", f"[{BIG}]", "true"],
    ),
    "str": (["", "???", "[1]", BIG, "a/b"], ["{a: 1}", "${oc.env:HOME}", "0"]),
    "expr": (["x²+y", "(" * 60 + "x" + ")" * 60, "x^" + BIG, "???"], ["[1]", "x/y", ""]),
}


def _values_for(rule: Callable[[Any], Any], key: str, schema: type, i: int, n: int) -> list[str]:
    """The first ``n`` values of the key's type, plus the ``i``-th extra."""
    from groupcomp.config.loader import _hint

    hint = str(_hint(schema, key))
    if key == "task.expression":
        kind = "expr"
    elif rule in (SEEDS, BETAS, POWERS_D3) or "list" in hint:
        kind = "list"
    elif "bool" in hint:
        kind = "bool"
    elif "int" in hint:
        kind = "int"
    elif "float" in hint or "Any" in hint:
        kind = "float"
    elif key in ("preset", "group", "kind"):
        kind = "str"
    else:
        kind = "enum"
    first, extras = VALUES[kind]
    out = first[:n] + [extras[i % len(extras)]]
    if "Any" in hint:  # number-or-auto keys (optim.lr, train.steps)
        out.append("auto")
    return out


def _raw(value: str) -> Any:
    """The value as YAML reads it (what OmegaConf is given); ``_BAD`` when YAML fails."""
    try:
        return yaml.safe_load(value) if value != "" else None
    except Exception:
        return _BAD


_BAD = object()


# ---------------------------------------------------------------------------------------------
# cases


@dataclass
class Case:
    id: str
    argv: list[str]
    key: str | None = None  # the key / argument the error must name
    legal: bool | None = None  # expected acceptance (None: either, invariant only)
    rule: Callable[[Any], Any] | None = None
    name_in_error: str | None = None  # text the one-line error must contain (default: key)
    rcs: tuple[int, ...] = (0, 2)  # allowed exit codes
    one_line: bool = True  # an error is one line on stderr


#: arithmetic keys fuzzed (those of the sequence schema with the same rule are covered there)
ARITH_KEYS = [
    "kind", "preset", "group", "loss", "task.op", "task.expression", "task.k", "split.mode",
    "split.train_fraction", "split.c", "split.offset", "split.nonabelian_correction",
    "split.seed", "model.hidden", "model.activation", "model.embedding", "model.embed_dim",
    "model.layers", "model.ridge", "model.ridge_lambda", "model.init_scale", "optim.name",
    "optim.lr", "optim.momentum", "train.seeds", "train.engine", "train.epochs",
    "train.stop_after_grok", "loss_remove",
]  # fmt: skip


def _config_cases() -> list[Case]:
    from groupcomp.config.arith import ArithConfig
    from groupcomp.config.schema import RunConfig

    cases = []
    for command, schema, rules, base, keys, n in (
        ("train", RunConfig, SEQUENCE_RULES, ["train", "d3", "train.steps=50"], ALL_KEYS, 5),
        ("arith", ArithConfig, ARITH_RULES, ["arith", "train.epochs=20", "model.hidden=32"],
         ARITH_KEYS, 3),
    ):  # fmt: skip
        for i, key in enumerate(keys):
            rule = rules.get(key, UNKNOWN)
            for value in _values_for(rule, key, schema, i, n):
                raw = _raw(value)
                legal = False if raw is _BAD else rule(raw)
                if key == "kind":
                    legal = False
                argv = [*[a for a in base if not a.startswith(key + "=")], f"{key}={value}"]
                short = value if len(value) <= 12 else value[:8] + f"..{len(value)}"
                cases.append(Case(f"{command}:{key}={short}", argv, key, legal, rule))
    return cases


def _theory_cases() -> list[Case]:
    out = []
    for value in ["1e3", "abc", "", "-1", "1", BIG, "101", "1000000000", "[2]", "2.5", "???"]:
        out.append(Case(f"theory:k={value[:8]}", ["theory", "group=D3", f"k={value}"], "task.k"))
    for value in ["1e3", "abc", "", "-1", "1", BIG, "1000", "2.5", " 3", "٣"]:
        out.append(
            Case(f"scaling:K={value[:8]}", ["theory", "scaling", "group=D3", f"K={value}"], "K")
        )
    out += [
        Case("scaling:bad-key", ["theory", "scaling", "nonsense=1"], "nonsense"),
        Case(
            "scaling:C9973", ["theory", "scaling", "group=C9973", "K=3"], None, False, None, "C9973"
        ),
        Case("scaling:S7", ["theory", "scaling", "group=S7"], None, False, None, "S7"),
        Case("theory:S7-onehot", ["theory", "group=S7", "template=onehot"], "group"),
        Case("theory:C9973", ["theory", "group=C9973", "template=onehot"], "group"),
        Case("theory:C5000", ["theory", "group=C5000", "template=onehot"], "group"),
        Case("theory:A7", ["theory", "group=A7", "template=onehot"], "group"),
        Case("theory:k-huge", ["theory", "d3", "task.k=1000000000"], "task.k"),
        Case("theory:agf=2", ["theory", "d3", "theory.agf=2"], "theory.agf"),
        Case("theory:json-ok", ["theory", "d3", "--json"], None, True),
        Case("theory:ok", ["theory", "group=C6", "template=onehot", "k=3"], None, True),
    ]
    return out


def _groups_cases() -> list[Case]:
    specs = [
        "C" + BIG, "SmallGroup(" + BIG + ",1)", "S" + "9" * 30, "S99999999", "C0", "D0", "",
        "   ", "C9973", "C4097", "C100xC100", "D4000", "S7", "A7", "Dic300", "Dic2400",
        "x".join(["C1"] * 5000), "x".join(["C2"] * 14), "C4XC4", "SmallGroup(129,1)",
        "SmallGroup(12,99)", "Q4", "C-3", "C3.5", "import os", "C²", "C٣", "D_", "(C4)",
    ]  # fmt: skip
    out = [
        Case(f"groups:{s[:16]}..{len(s)}", ["groups", "show", s], None, False, None, "")
        for s in specs
    ]
    out += [
        Case("groups:C60-ok", ["groups", "show", "C60"], None, True),
        Case("groups:S4-complex", ["groups", "show", "S4", "--complex"], None, True),
        Case("groups:bad-flag", ["groups", "show", "D3", "--bogus"], None, False, None, "--bogus"),
        Case("groups:no-spec", ["groups", "show"], None, False, None, "spec"),
    ]
    return out


def _name_out_cases() -> list[Case]:
    names = ["a/b", "n" * 300, "../escape_name", "/tmp/abs_escape", "", ".", "..", ".hidden",
             "a\nb", "a b", "é", "a\x00b"]  # fmt: skip
    out = []
    for i, n in enumerate(names):
        command = ("train", "arith")[i % 2]
        argv = [command, *(["d3"] if command == "train" else []), "--name", n]
        out.append(Case(f"{command}:--name={n[:10]!r}", argv, "--name"))
    return out


def _special_cases() -> list[Case]:
    """Cases whose paths are filled in by the fixture (``{files}``, ``{runs}``)."""
    c = [
        Case("train:out-file", ["train", "d3", "--out", "{files}/afile"], "--out"),
        Case("train:out-under-file", ["train", "d3", "--out", "{files}/afile/x"], "--out"),
        Case("arith:out-under-file", ["arith", "--out", "{files}/afile/x/y"], "--out"),
        Case("scaling:out-file", ["theory", "scaling", "K=2", "--out", "{files}/afile"], "--out"),
        Case("train:preset=../x", ["train", "preset=../escape_preset"], "preset"),
        Case("train:preset-abs", ["train", "d3", "preset=/tmp/x"], "preset"),
        Case("train:/proc/nope", ["train", "/proc/nope"], None, False, None, "/proc/nope"),
        Case("train:/proc/nope.yaml", ["train", "/proc/nope.yaml"], None, False, None, "nope"),
        Case("train:unknown-preset", ["train", "d4"], "preset"),
        Case("train:arith-preset", ["train", "arith_z23"], "preset"),
        Case("train:no-preset", ["train"], None, False, None, "preset"),
        Case("train:dir-as-preset", ["train", "{files}"], None, False, None, "not a file"),
        Case("train:no-equals", ["train", "d3", "model"], None, False, None, "key=value"),
        Case("train:empty-key", ["train", "d3", "=3"], None, False, None, "empty key"),
        Case("train:unknown-key", ["train", "d3", "model.hiden=3"], "model.hiden"),
        Case("train:deep-key", ["train", "d3", "model.hidden.x=1"], "model.hidden"),
        Case("train:hidden-1e8", ["train", "d3", "model.hidden=100000000"], "model.hidden"),
        Case("train:C1000-onehot", ["train", "d3", "group=C1000", "template=onehot"], "task.data"),
        Case("train:C1414", ["train", "d3", "group=C1414", "template=onehot"], "task.data"),
        Case("train:k10", ["train", "d3", "task.k=10", "train.steps=50"], "task.data"),
        Case(
            "train:online-k1000",
            ["train", "d3", "task.k=1000", "task.data=online", "train.batch_size=2"],
            "task.k",
        ),
        Case(
            "train:ckpt-every-1",
            ["train", "d3", "train.steps=1000000", "train.checkpoint_every=1"],
            "train.checkpoint_every",
        ),
        Case("train:steps-1e11", ["train", "d3", "train.steps=100000000000"], "train.steps"),
        Case(
            "train:seeds-many",
            [
                "train",
                "d3",
                f"train.seeds=[{','.join(map(str, range(3000)))}]",
                "train.steps=1000000",
            ],
            "train.steps",
        ),  # fmt: skip
        Case("arith:epochs-1e9", ["arith", "train.epochs=1000000000"], "train.epochs"),
        Case("arith:hidden-1e8", ["arith", "model.hidden=100000000"], "model.hidden"),
        Case("arith:Z9973-k3", ["arith", "group=Z9973", "task.k=3"], "group"),
        Case("arith:k50", ["arith", "task.k=50"], "task.k"),
        Case("arith:expr-x²", ["arith", "group=Z7", "expression=x²+y"], "task.expression"),
        Case(
            "arith:expr-deep",
            ["arith", "group=Z7", "expression=" + "(" * 400 + "x" + ")" * 400],
            "task.expression",
        ),  # fmt: skip
        Case(
            "arith:expr-minus",
            ["arith", "group=Z7", "expression=" + "-" * 900 + "x"],
            "task.expression",
        ),  # fmt: skip
        Case(
            "arith:expr-chain",
            ["arith", "group=Z7", "expression=" + "+".join(["x"] * 300)],
            "task.expression",
        ),  # fmt: skip
        Case(
            "arith:expr-bignum",
            ["arith", "group=Z7", "expression=x^" + "9" * 500],
            "task.expression",
        ),  # fmt: skip
        Case("yaml:bomb", ["train", "{files}/bomb.yaml"], None, False, None, "aliases"),
        Case("yaml:latin1", ["train", "{files}/latin1.yaml"], None, False, None, "UTF-8"),
        Case("yaml:list", ["train", "{files}/list.yaml"], None, False, None, "mapping"),
        Case("yaml:deep", ["train", "{files}/deep.yaml"], None, False, None, "nested"),
        Case("yaml:bigint", ["train", "{files}/bigint.yaml"], None, False, None, "bigint.yaml"),
        Case("yaml:missing", ["train", "{files}/missing.yaml"], None, False, None, "???"),
        Case("yaml:huge", ["train", "{files}/huge.yaml"], None, False, None, "bytes"),
        Case("yaml:arith-in-train", ["train", "{files}/arith.yaml"], "preset"),
        Case("yaml:interp", ["train", "{files}/interp.yaml"], None, False, None, "interpolation"),
        Case("yaml:binary", ["train", "{files}/binary.yaml"], None, False, None, "binary.yaml"),
        Case("plot:nonexistent", ["plot", "{files}/nope"], None, False, None, "nope"),
        Case("plot:file", ["plot", "{files}/afile"], None, False, None, "afile"),
        Case(
            "resume:nonexistent", ["train", "--resume", "{files}/nope"], None, False, None, "nope"
        ),
        Case("resume:file", ["arith", "--resume", "{files}/afile"], None, False, None, "afile"),
        Case("resume:with-preset", ["train", "d3", "--resume", "{runs}/base"], "--resume"),
        Case("collect:nonexistent", ["collect", "{files}/nope"], None, False, None, ""),
        Case("collect:file", ["collect", "{files}/afile"], None, False, None, ""),
        Case("cogs:nonexistent", ["cogs", "{files}/nope"], None, False, None, ""),
        Case("cogs:file", ["cogs", "{files}/afile"], None, False, None, ""),
        Case("cogs:sequence-run", ["cogs", "{runs}/plot_base"], None, False, None, ""),
        Case(  # a sweep reports each failed job on its own line and exits 1
            "multirun:bad-value",
            ["train", "-m", "d3", "model.hidden=-1,0"],
            None,
            False,
            None,
            "model.hidden",
            rcs=(1, 2),
            one_line=False,
        ),
        Case("cli:unknown-command", ["frobnicate"], None, False, None, "frobnicate"),
        Case("cli:no-command", [], None, False, None, "command"),
    ]
    return c


#: corruptions of copies of a tiny real run, with whether ``--resume`` (falls back to an older
#: checkpoint, rewrites a corrupt summary) and ``plot`` (needs config, summary, metrics) work
CORRUPTIONS: dict[str, tuple[bool, bool]] = {
    "ok": (True, True),
    "ck_trunc": (True, True),
    "ck_empty": (True, True),
    "ck_notzip": (True, True),
    "ck_pickle": (True, True),
    "ck_all_bad": (False, True),
    "cfg_mismatch": (False, True),
    "cfg_latin1": (False, False),
    "cfg_empty": (False, False),
    "cfg_bad_value": (False, False),
    "cfg_kind": (False, False),
    "no_config": (False, False),
    "sum_trunc": (True, False),
    "sum_empty_obj": (True, False),
    "sum_list": (True, False),
    "sum_wrong_types": (True, False),
    "sum_missing": (True, False),
    "met_trunc": (True, False),
    "met_empty": (True, False),
    "met_other": (True, False),
    "met_missing": (True, False),
}
#: successful resumes and plots train / draw for real (seconds each): only these are run
SLOW_OK = {("resume", "seq", "ck_pickle"), ("resume", "arith", "ck_notzip"),
           ("plot", "arith", "ok"), ("plot", "seq", "ck_all_bad")}  # fmt: skip


def _run_cases() -> list[Case]:
    out = []
    for kind in ("seq", "arith"):
        command = "arith" if kind == "arith" else "train"
        for name, (ok_r, ok_p) in CORRUPTIONS.items():
            run = f"{{runs}}/{kind}_{name}"
            if not ok_r or ("resume", kind, name) in SLOW_OK:
                argv = [command, "--resume", run]
                out.append(Case(f"resume:{kind}:{name}", argv, None, ok_r, None, ""))
            if not ok_p or ("plot", kind, name) in SLOW_OK:
                out.append(Case(f"plot:{kind}:{name}", ["plot", run + "_p"], None, ok_p, None, ""))
    return out


ALL_CASES = (
    _config_cases()
    + _theory_cases()
    + _groups_cases()
    + _name_out_cases()
    + _special_cases()
    + _run_cases()
)


# ---------------------------------------------------------------------------------------------
# fixtures


class _WouldTrain(BaseException):
    """Raised by the stub of ``execute._run`` (a BaseException: the CLI's handlers let it go)."""

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg


def _stub_run(exp, folder, **kwargs):
    if kwargs.get("start") is not None:  # --resume: continue the tiny run for real
        return _REAL_RUN(exp, folder, **kwargs)
    raise _WouldTrain(exp.cfg)


_REAL_RUN = execute_mod._run


def _corrupt(d: Path, name: str) -> None:
    import torch

    ck = sorted((d / "checkpoints").glob("step_*.pt"))
    if name == "ck_trunc":
        ck[-1].write_bytes(ck[-1].read_bytes()[:100])
    elif name == "ck_empty":
        ck[-1].write_bytes(b"")
    elif name == "ck_notzip":
        ck[-1].write_bytes(b"not a zip " * 50)
    elif name == "ck_all_bad":
        for f in ck:
            f.write_bytes(b"")
    elif name == "ck_pickle":

        class Evil:
            def __reduce__(self):
                return (os.system, ("touch /tmp/groupcomp_fuzz_pwned",))

        torch.save({"format": "groupcomp-checkpoint-v2", "x": Evil()}, ck[-1])
    elif name == "cfg_mismatch":
        t = (d / "config.yaml").read_text()
        (d / "config.yaml").write_text(t.replace("hidden: 16", "hidden: 12"))
    elif name == "cfg_latin1":
        (d / "config.yaml").write_bytes(
            (d / "config.yaml").read_bytes() + "# é\n".encode("latin-1")
        )
    elif name == "cfg_empty":
        (d / "config.yaml").write_text("")
    elif name == "cfg_bad_value":
        t = (d / "config.yaml").read_text()
        (d / "config.yaml").write_text(t.replace("hidden: 16", "hidden: -5"))
    elif name == "cfg_kind":
        t = (d / "config.yaml").read_text()
        swap = "kind: arith" if "kind: sequence" in t else "kind: sequence"
        t = t.replace("kind: sequence", swap).replace("kind: arith", swap)
        (d / "config.yaml").write_text(t)
    elif name == "sum_trunc":
        t = (d / "summary.json").read_text()
        (d / "summary.json").write_text(t[: len(t) // 2])
    elif name == "sum_empty_obj":
        (d / "summary.json").write_text("{}")
    elif name == "sum_list":
        (d / "summary.json").write_text("[1, 2]")
    elif name == "sum_wrong_types":
        (d / "summary.json").write_text('{"kind": 5, "status": [], "schema_version": 2}')
    elif name == "sum_missing":
        (d / "summary.json").unlink()
    elif name == "met_trunc":
        b = (d / "metrics.parquet").read_bytes()
        (d / "metrics.parquet").write_bytes(b[: len(b) // 2])
    elif name == "met_empty":
        (d / "metrics.parquet").write_bytes(b"")
    elif name == "met_other":
        import pandas as pd

        pd.DataFrame({"a": [1, 2]}).to_parquet(d / "metrics.parquet")
    elif name == "met_missing":
        (d / "metrics.parquet").unlink()
    elif name == "no_config":
        (d / "config.yaml").unlink()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """``root/{files,runs,cwd,out}``: hostile files, tiny runs and their corrupted copies."""
    from groupcomp.api import train
    from groupcomp.config import load_config
    from groupcomp.config.arith import ArithConfig

    root = tmp_path_factory.mktemp("fuzz")
    files, runs = root / "files", root / "runs"
    for d in (files, runs, root / "cwd", root / "out"):
        d.mkdir()
    (files / "afile").write_text("hello")
    (files / "bomb.yaml").write_text(
        "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    )
    (files / "latin1.yaml").write_bytes("group: D3\n# caf\xe9\n".encode("latin-1"))
    (files / "list.yaml").write_text("- 1\n- 2\n")
    (files / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    (files / "bigint.yaml").write_text("model:\n  hidden: " + BIG + "\n")
    (files / "missing.yaml").write_text("model:\n  hidden: ???\n")
    (files / "huge.yaml").write_text("# " + "x" * 1_100_000 + "\n")
    (files / "arith.yaml").write_text("kind: arith\ngroup: Z7\n")
    (files / "interp.yaml").write_text("group: ${oc.env:HOME}\n")
    (files / "binary.yaml").write_bytes(bytes(range(256)) * 10)
    seq_cfg = load_config(
        "d3",
        ["train.steps=30", "train.checkpoints=4", "optim.lr=1e-5", "model.hidden=16"],
    )
    arith_cfg = load_config(
        None, ["group=Z7", "train.epochs=30", "model.hidden=16"], schema=ArithConfig
    )
    seq = train(seq_cfg, runs, name="seq_base", quiet=True, stop_after=20).run_dir
    ari = train(arith_cfg, runs, name="arith_base", quiet=True, stop_after=20).run_dir
    shutil.copytree(seq, runs / "plot_base")
    for base, kind in ((seq, "seq"), (ari, "arith")):
        for name in CORRUPTIONS:
            for suffix in ("", "_p"):
                d = runs / f"{kind}_{name}{suffix}"
                shutil.copytree(base, d)
                _corrupt(d, name)
    return root


def _listing(p: Path) -> set[str]:
    return {x.name for x in p.iterdir()} if p.is_dir() else set()


@pytest.fixture(scope="module")
def rss_start() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _alarm(signum, frame):
    raise TimeoutError(f"case took more than {CASE_TIMEOUT} s")


# ---------------------------------------------------------------------------------------------
# the test


def _fill(argv: list[str], root: Path) -> list[str]:
    return [a.replace("{files}", str(root / "files")).replace("{runs}", str(root / "runs"))
            for a in argv]  # fmt: skip


def test_case_table_is_large_and_covers_every_key_and_command() -> None:
    from groupcomp.config.arith import ArithConfig

    assert len(ALL_CASES) >= 300
    assert len({c.id for c in ALL_CASES}) == len(ALL_CASES)
    seen = {c.key for c in ALL_CASES if c.id.startswith("train:")}
    assert set(ALL_KEYS) <= seen
    seen = {c.key for c in ALL_CASES if c.id.startswith("arith:")}
    # the arithmetic schema's own keys (the shared ones are fuzzed through `train`)
    assert set(_all_keys(ArithConfig)) - set(ALL_KEYS) <= seen
    commands = {c.argv[0] for c in ALL_CASES if c.argv}
    assert {"groups", "theory", "train", "arith", "plot", "collect", "cogs"} <= commands
    assert any("--resume" in c.argv for c in ALL_CASES)
    assert any(c.argv[:2] == ["theory", "scaling"] for c in ALL_CASES)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_hostile_input(case: Case, world: Path, rss_start: int, monkeypatch) -> None:
    root = world
    out = root / "out" / case.id.replace("/", "_").replace(":", "_")[:80]
    argv = _fill(case.argv, root)
    if argv and argv[0] in ("train", "arith") and "--resume" not in argv and "--out" not in argv:
        argv += ["--out", str(out)]
    if argv and argv[0] in ("train", "arith"):
        argv += ["--quiet"]
    monkeypatch.setattr(execute_mod, "_run", _stub_run)
    monkeypatch.chdir(root / "cwd")
    above = [(p, _listing(p)) for p in (root, root.parent)]
    pwned = Path("/tmp/groupcomp_fuzz_pwned")
    err, std = io.StringIO(), io.StringIO()
    accepted_cfg = None
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_TIMEOUT)
    t0 = time.perf_counter()
    try:
        with redirect_stderr(err), redirect_stdout(std):
            try:
                rc = cli.main(argv)
            except SystemExit as exc:  # argparse
                rc = exc.code if isinstance(exc.code, int) else 2
            except _WouldTrain as stop:
                rc, accepted_cfg = 0, stop.cfg
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    elapsed = time.perf_counter() - t0
    stderr = err.getvalue()
    lines = [ln for ln in stderr.splitlines() if ln.strip() and "warning" not in ln]
    # never a traceback, an internal error, or a pickle payload run
    assert "Traceback" not in stderr + std.getvalue(), stderr[-2000:]
    assert "internal error" not in stderr, stderr
    assert not pwned.exists()
    assert rc in case.rcs, (rc, stderr[-500:])
    # nothing written outside --out: the working directory, the fixture root and its parent
    assert _listing(root / "cwd") == set()
    for p, before in above:
        assert _listing(p) == before, p
    if rc != 0:
        errors = [ln for ln in lines if ln.startswith("groupcomp: ")]
        assert errors and (len(errors) == len(lines) == 1 or not case.one_line), stderr
        need = case.name_in_error if case.name_in_error is not None else case.key
        if need:
            assert need in errors[0], errors[0]
        assert all(len(e) < 2000 for e in errors), errors
        assert elapsed < FAST, f"refusal took {elapsed:.1f} s"
        assert case.legal is not True, f"legal value refused: {errors[0]}"
    else:
        assert case.legal is not False, f"illegal value accepted (rc 0): {argv[-4:]}"
        if accepted_cfg is not None and case.rule is not None and case.key:
            from omegaconf import OmegaConf

            value = OmegaConf.to_container(accepted_cfg, resolve=True)
            for part in case.key.split("."):
                value = value[part]
            assert case.rule(value) in (True, None), (case.key, value)
    # memory: the whole table stays within 2 GiB of growth (ru_maxrss is in KiB on Linux)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_start
    assert grown < 2 * 2**20, f"peak memory grew by {grown / 2**20:.2f} GiB"
