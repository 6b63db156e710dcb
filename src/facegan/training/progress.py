"""What a run shows while it trains: the tick line (log.txt, stats.jsonl, TensorBoard) and the
progress bar."""

from __future__ import annotations

from facegan.training.losses import PhaseStats


def report_tick(runlog, writer, stats: PhaseStats, state, tick_sec: float, sched, augment_pipe, batch: int) -> None:
    kimg = state.nimg / 1000
    means = {k: stats.mean(k) for k in stats.sums}
    fields = {"Progress/tick": state.tick, "Progress/kimg": kimg, "Progress/batch": batch,
              "Timing/sec_per_tick": tick_sec, "Timing/total_sec": state.elapsed,
              "Timing/img_per_sec": (stats.counts.get("Loss/scores/real", 0) and
                                     (state.nimg - state.tick_start_nimg) / max(tick_sec, 1e-9)),
              "Progress/augment": float(augment_pipe.p) if augment_pipe is not None else 0.0, **means}
    if sched is not None:
        fields["Progress/lod"] = sched.lod
        fields["Progress/resolution"] = sched.resolution
    writer.write(fields, kimg)
    g, dl = means.get("Loss/G/loss"), means.get("Loss/D/loss_real")
    line = (f"tick {state.tick:<5d} kimg {kimg:<9.3f} time {state.elapsed:<8.1f}s sec/tick {tick_sec:<7.1f} "
            f"img/s {fields['Timing/img_per_sec']:<7.1f}" + (f" lod {sched.lod:<5.2f}" if sched else "") +
            (f" G {g:<7.4f}" if g is not None else "") + (f" D_real {dl:<7.4f}" if dl is not None else "") +
            (f" augment {fields['Progress/augment']:.3f}" if augment_pipe is not None else ""))
    runlog.write(line)


def bar_fields(stats: PhaseStats, augment_pipe) -> dict[str, str]:
    out = {}
    for key, label in (("Loss/G/loss", "G"), ("Loss/D/loss_real", "D_real"), ("Loss/r1_penalty", "R1")):
        v = stats.mean(key)
        if v is not None:
            out[label] = f"{v:.3f}"
    if augment_pipe is not None:
        out["p"] = f"{float(augment_pipe.p):.3f}"
    return out


def progress_bar(enabled: bool, total: int, initial: int):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="img", unit_scale=True, desc="train", dynamic_ncols=True)


def merge(into: PhaseStats, other: PhaseStats) -> None:
    for k, v in other.sums.items():
        into.sums[k] = into.sums.get(k, 0.0) + v
        into.counts[k] = into.counts.get(k, 0) + other.counts[k]
