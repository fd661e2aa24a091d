"""NLU cost per message (``python -m benchmarks.nlu``): latency percentiles and messages/s.

Runs the NLU plugin's analyser of the demo bot (language, entities, intent, sentiment,
slots: everything ``qandu_analyze_message`` does) on the held-out utterances of
``tests/data/heldout_{en,de}.jsonl``, one message at a time, and compares it with a bare
spaCy tokenizer (``spacy.blank(lang).make_doc``) on the same texts.  It also measures the
plugin's real path: each analysis handed to a worker thread from trio, as the server does.
The models are trained first (into a temporary cache unless ``--cache`` names one).
Target: p50 under 5 ms per message.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import spacy
import trio

from benchmarks.stats import Latency, fmt
from qandu.bots import load_bot
from qandu.testing import DEMO_BOT, REPO
from qandu_nlu import NluConfig
from qandu_nlu.builder import build_analyzer, plan_models
from qandu_nlu.data import load_bot_data
from qandu_nlu.models import load, train_and_save

TARGET_P50_MS = 5.0
TODAY = dt.date(2026, 12, 1)


def utterances() -> list[tuple[str, str]]:
    found = []
    for lang in ("en", "de"):
        path = REPO / "tests" / "data" / f"heldout_{lang}.jsonl"
        found += [(lang, json.loads(line)["text"]) for line in path.read_text(encoding="utf-8").splitlines()]
    return found


def timed(
    fn: Callable[[str, str], Any], texts: list[tuple[str, str]], rounds: int
) -> tuple[list[float], float]:
    """Per-call seconds of ``fn(lang, text)`` over ``rounds`` passes, and the total wall time."""
    samples = []
    started = time.perf_counter()
    for _ in range(rounds):
        for lang, text in texts:
            t0 = time.perf_counter()
            fn(lang, text)
            samples.append(time.perf_counter() - t0)
    return samples, time.perf_counter() - started


async def through_threads(
    analyze: Callable[..., Any], texts: list[tuple[str, str]], rounds: int
) -> list[float]:
    """Like the plugin: each analysis in a worker thread behind a CapacityLimiter(1)."""
    limiter = trio.CapacityLimiter(1)
    samples = []
    for _ in range(rounds):
        for _lang, text in texts:
            t0 = time.perf_counter()
            await trio.to_thread.run_sync(analyze, text, None, TODAY, limiter=limiter)
            samples.append(time.perf_counter() - t0)
    return samples


def measure(cache: Path, rounds: int) -> dict[str, Any]:
    config = NluConfig(cache_dir=str(cache))
    bot = load_bot(DEMO_BOT)
    data = load_bot_data(bot.name, bot.path, bot.languages)
    analyzer = build_analyzer(bot, data, config)
    for plan in plan_models({bot.name: data}, config, cache):
        if not plan.fresh:
            print(f"training {plan.bot}/{plan.lang} ...", flush=True)
            train_and_save(data, plan.lang, config, analyzer.builtins, plan.target)
        analyzer.models[plan.lang] = load(plan.target, plan.lang, analyzer.builtins)
    analyzer.guesser.warm_up()
    texts = utterances()
    blank = {lang: spacy.blank(lang) for lang in bot.languages}
    timed(lambda lang, text: analyzer.analyze(text, None, TODAY), texts, 1)  # warm caches

    nlu, nlu_wall = timed(lambda lang, text: analyzer.analyze(text, None, TODAY), texts, rounds)
    base, base_wall = timed(lambda lang, text: blank[lang].make_doc(text), texts, rounds)
    threaded = trio.run(through_threads, analyzer.analyze, texts, rounds)
    model = {lang: analyzer.models[lang] for lang in bot.languages}
    parts = {
        "language": timed(lambda lang, text: analyzer.guesser.detect(text, "en"), texts, rounds)[0],
        "builtin entities": timed(lambda lang, text: analyzer.builtins.find(text, TODAY), texts, rounds)[0],
        "intent + ruler": timed(lambda lang, text: model[lang].predict(text), texts, rounds)[0],
        "sentiment": timed(lambda lang, text: analyzer.sentiment(text, lang), texts, rounds)[0],
    }
    nlu_latency, base_latency = Latency.of(nlu), Latency.of(base)
    result = {
        "messages": len(nlu),
        "nlu_ms": nlu_latency.__dict__,
        "nlu_messages_per_s": len(nlu) / nlu_wall,
        "via_thread_ms": Latency.of(threaded).__dict__,
        "tokenizer_ms": base_latency.__dict__,
        "tokenizer_messages_per_s": len(base) / base_wall,
        "ratio_p50": nlu_latency.p50 / base_latency.p50,
        "parts_p50_ms": {name: Latency.of(samples).p50 for name, samples in parts.items()},
        "target_p50_ms": TARGET_P50_MS,
        "passed": nlu_latency.p50 < TARGET_P50_MS,
    }
    print(f"{len(nlu)} messages ({len(texts)} held-out utterances x {rounds}), en + de")
    print(f"  NLU (everything)    {nlu_latency.brief()}   {fmt(result['nlu_messages_per_s'])} messages/s")
    print(f"  via worker thread   {Latency.of(threaded).brief()}")
    print(
        f"  blank tokenizer     p50 {fmt(base_latency.p50, 4)} / p99 {fmt(base_latency.p99, 3)} ms"
        f"   {fmt(result['tokenizer_messages_per_s'])} messages/s"
    )
    print(f"  NLU / tokenizer     {result['ratio_p50']:.1f}x (p50)")
    for name, p50 in result["parts_p50_ms"].items():
        print(f"    {name:<18}p50 {fmt(p50, 3)} ms")
    print(f"  target p50 < {fmt(TARGET_P50_MS)} ms: {'PASS' if result['passed'] else 'FAIL'}")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nlu", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="passes over the held-out utterances")
    parser.add_argument("--cache", type=Path, help="model cache to use (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="qandu-nlu-bench-") as workdir:
        result = measure(args.cache or Path(workdir), args.rounds)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    raise SystemExit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
