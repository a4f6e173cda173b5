"""MO303 ``runner`` / ``total_epochs`` / ``total_iters`` -> the 1.x ``train_cfg`` loop.

docs/schedules.md#runner-and-totals:

* ``runner=dict(type='EpochBasedRunner', max_epochs=E)`` becomes ``train_cfg=dict(type=
  'EpochBasedTrainLoop', max_epochs=E, val_interval=V)`` and ``IterBasedRunner(max_iters=I)``
  becomes ``IterBasedTrainLoop(max_iters=I, val_interval=V)``. MMEngine's ``build_train_loop``
  takes either ``type`` or ``by_epoch``, never both; the ``type`` form is what OpenMMLab's 1.x
  configs write.
* Without a ``runner``, each codebase's train API builds one: mmdet/mmcls (and the other
  epoch-based codebases) an ``EpochBasedRunner`` with ``max_epochs=total_epochs`` (mmdet asserts
  ``total_epochs == runner.max_epochs`` when both are given), mmseg an ``IterBasedRunner`` with
  ``max_iters=total_iters``. MMGeneration/MMEditing configs are the GAN runner rule's (MO208).
* ``val_interval``: the 0.x train APIs register ``EvalHook(**evaluation)`` whose ``interval``
  defaults to 1 (epochs or iterations, by the runner); 1.x loops read ``val_interval``
  (default 1 for epochs, 1000 for iterations), so it is always written. ``evaluation`` itself
  stays as it is (the evaluator rules of 1.x are not this tool's).
"""

from __future__ import annotations

from migrate_optim.convert.findings import FindingId, Severity
from migrate_optim.convert.rules import _gan as gc
from migrate_optim.convert.rules import _schedule as sc
from migrate_optim.convert.static import SDict, SLit, SValue, gdict, lit
from migrate_optim.convert.translation import Translation

LOOPS = {sc.EPOCH: "EpochBasedTrainLoop", sc.ITER: "IterBasedTrainLoop"}
#: keys of a 0.x runner dict the loop takes over (others have no 1.x meaning)
RUNNER_KEYS = ("type", "max_epochs", "max_iters")

#: the top-level keys this rule may consume (remove, take as a source, or mark with a TODO);
#: the convert prefilter skips libcst for a file that mentions none of them (rules.KEYS)
#: (``evaluation``: its interval becomes the loop's val_interval, a source of ``train_cfg``)
KEYS: tuple[str, ...] = ("runner", "total_epochs", "total_iters", "evaluation")


def _none(v: SValue | None) -> bool:
    return isinstance(v, SLit) and v.value is None


def apply(t: Translation) -> None:
    """Write the 1.x training loop from the 0.x runner and totals."""
    if "train_cfg" in t.out:
        return  # the GAN runner rule wrote the loop
    runner = t.cfg.get("runner")
    rtype = gc.literal_str(runner.get("type")) if isinstance(runner, SDict) else None
    if t.codebase in gc.GAN_CODEBASES or rtype == "DynamicIterBasedRunner":
        # MO208's: total_iters passed to run(), GAN-specific runner options; it leaves the
        # loop unwritten while the 0.x model train_cfg holds the key (with its own TODO)
        total = t.cfg.get("total_iters")
        if total is not None and "total_iters" not in t.out and gc.train_cfg_blocked(t):
            t.todo(
                FindingId.TRAIN_LOOP,
                "`total_iters` becomes train_cfg.max_iters, but `train_cfg` still holds the "
                "0.x GAN train_cfg (see its TODO); convert it first",
                key="total_iters",
                at=total,
            )
        return
    keys = [k for k in ("runner", "total_epochs", "total_iters") if k in t.cfg.entries]
    if not keys:
        return
    owner = keys[0]
    t.relate("train_cfg", *keys)
    existing = t.cfg.get("train_cfg")
    if existing is not None and not _none(existing) and not gc.is_loop_cfg(existing):
        t.todo(
            FindingId.TRAIN_LOOP,
            "the top-level `train_cfg` is the 0.x model train_cfg (deprecated in 0.x): move it "
            "into `model.train_cfg` first, so that the 1.x loop can take the key",
            key=owner,
            at=existing,
        )
        return
    if runner is not None and not _none(runner) and not isinstance(runner, SDict):
        t.todo(
            FindingId.TRAIN_LOOP,
            "`runner` is not a dict literal: convert by hand",
            key="runner",
            at=runner,
        )
        return
    info = sc.runner_info(t)
    if info.kind is None:
        t.todo(FindingId.TRAIN_LOOP, f"{info.problem}: convert `{owner}` by hand", key=owner)
        return
    if isinstance(runner, SDict):
        extra = [k for k in runner.keys() if k not in RUNNER_KEYS]
        if extra:
            t.todo(
                FindingId.TRAIN_LOOP,
                f"runner option(s) {', '.join(extra)} have no `train_cfg` equivalent: convert "
                "by hand",
                key="runner",
                at=runner.entry(extra[0]),
            )
            return
        other = "max_iters" if info.kind == sc.EPOCH else "max_epochs"
        if not _none(runner.get(other)) and other in runner:
            t.todo(
                FindingId.TRAIN_LOOP,
                f"{info.runner_type} with `{other}`: mmcv accepts only the length of its own "
                "kind; convert by hand",
                key="runner",
                at=runner.entry(other),
            )
            return
    length = info.max_epochs if info.kind == sc.EPOCH else info.max_iters
    if length is None:
        t.todo(
            FindingId.TRAIN_LOOP,
            f"the 0.x {info.kind}-based runner has no "
            f"{'max_epochs' if info.kind == sc.EPOCH else 'max_iters'}: convert by hand",
            key=owner,
        )
        return
    if not _consistent(t, info):
        return
    loop = gdict(type=lit(LOOPS[info.kind]))
    loop.set("max_epochs" if info.kind == sc.EPOCH else "max_iters", length)
    interval = _val_interval(t)
    sources = tuple(keys)
    if interval is not None:
        loop.set("val_interval", interval)
        if "evaluation" in t.cfg.entries:
            # a child changing only `evaluation` changes the loop's val_interval too
            sources += ("evaluation",)
    t.set("train_cfg", loop, sources=sources)
    for k in keys:
        t.remove(k)


def _consistent(t: Translation, info: sc.RunnerInfo) -> bool:
    """mmdet asserts ``total_epochs == runner.max_epochs`` when both are given."""
    runner = t.cfg.get("runner")
    total = t.cfg.get("total_epochs" if info.kind == sc.EPOCH else "total_iters")
    if not isinstance(runner, SDict) or total is None or _none(total):
        return True
    mine = runner.get("max_epochs" if info.kind == sc.EPOCH else "max_iters")
    a, b = gc.number(mine, t.cfg), gc.number(total, t.cfg)
    if a is not None and a == b:
        return True
    key = "total_epochs" if info.kind == sc.EPOCH else "total_iters"
    t.todo(
        FindingId.TRAIN_LOOP,
        f"`{key}` and the runner's length "
        + ("differ" if a is not None and b is not None else "are not both static")
        + ": 0.x trained for the runner's (mmdet asserted they are equal); convert by hand",
        key=key,
        at=total,
    )
    return False


def _val_interval(t: Translation) -> SValue | None:
    """``evaluation.interval`` (0.x ``EvalHook`` default 1), or None when not static."""
    ev = t.cfg.get("evaluation")
    if ev is None or _none(ev):
        return lit(1)
    if not isinstance(ev, SDict):
        t.note(
            FindingId.TRAIN_LOOP,
            Severity.WARNING,
            "`evaluation` is not a dict literal: `val_interval` was not written (1.x default: "
            "1 epoch or 1000 iterations); set it to the 0.x evaluation interval",
            at=ev,
        )
        return None
    if "start" in ev and not _none(ev.get("start")):
        t.note(
            FindingId.TRAIN_LOOP,
            Severity.WARNING,
            "evaluation.start: 0.x evaluated at `start` and every `interval` after it; 1.x "
            "`val_begin` evaluates at multiples of `val_interval` from `val_begin` on; check "
            "the evaluation steps",
            at=ev.entry("start"),
        )
    iv = ev.get("interval")
    if isinstance(iv, SLit):
        # a copy: `evaluation` stays, with its comments (they must not follow the number)
        return lit(iv.value)
    return lit(1) if iv is None else iv
