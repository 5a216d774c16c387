"""Two commits' benches side by side in one sitting: the machines are noisy, so only ratios measured together count.

    .venv/bin/python bench/compare.py <commit A> <commit B> [--repeat 3] -- bench_sync.py --scenario demo
    .venv/bin/python bench/bench_sync.py --compare <commit A> <commit B> [--repeat 3] --scenario demo

Each commit is checked out into a temporary `git worktree` (the working tree is not touched; the worktrees are
removed afterwards) and its own bench runs there with this checkout's .venv python, alternately A, B, A, B ...
`--repeat` times each. Prints one JSON object: per scenario (a bench's "scenario" or "demo" field, else the line's
place) the median of every number the bench printed at each commit, and the ratio B/A. A commit whose bench does
not take an option runs without it, and what could not be compared is listed under "not_compared".
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE_ONLY = ("DATABASE_URL", "LOCK_DIR", "SANDBOX_ENABLED", "REDIS_URL")


def add_arguments(parser):
    parser.add_argument("--compare", nargs=2, metavar=("COMMIT_A", "COMMIT_B"),
                        help="run this bench at two commits, alternately, and print medians and ratios B/A")
    parser.add_argument("--repeat", type=int, default=3, help="with --compare: runs at each commit")


def python():
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def split_own(argv):
    """(commit A, commit B, repeat, the bench's own arguments) from a bench's command line."""
    rest, commits, repeat = list(argv), None, 3
    if "--compare" in rest:
        at = rest.index("--compare")
        commits = rest[at + 1:at + 3]
        del rest[at:at + 3]
    if "--repeat" in rest:
        at = rest.index("--repeat")
        repeat = int(rest[at + 1])
        del rest[at:at + 2]
    return commits, repeat, rest


def options_of(help_text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", help_text))


def keep_known(args, known):
    """`args` less the options a bench does not know, each with the values after it; and those left out."""
    kept, dropped, skipping = [], [], False
    for arg in args:
        if arg.startswith("--"):
            name = arg.split("=", 1)[0]
            skipping = name not in known
            (dropped if skipping else kept).append(arg)
        elif skipping:
            dropped.append(arg)
        else:
            kept.append(arg)
    return kept, dropped


def objects(stdout):
    """The JSON objects a bench printed: one a line, or one object over several lines (older benches)."""
    text = stdout.strip()
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError:
        return [json.loads(text)] if text else []


def numbers(obj, prefix=""):
    """{dotted key: value} of every number in a bench's JSON object (True and False are not figures)."""
    found = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found.update(numbers(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            found[name] = value
    return found


def by_scenario(objs):
    return {str(obj.get("scenario") or obj.get("demo") or f"#{n}"): numbers(obj) for n, obj in enumerate(objs)}


def align(runs_a, runs_b):
    """An older bench prints one object naming no scenario: compare it with the one scenario the other commit's bench
    printed (the figures of the same name are the same measure). Returns a note, or None."""
    names = [{s for run in runs for s in run} for runs in (runs_a, runs_b)]
    for unnamed, named, side in ((0, 1, "A"), (1, 0, "B")):
        if names[unnamed] == {"#0"} and len(names[named]) == 1 and not next(iter(names[named])).startswith("#"):
            name = next(iter(names[named]))
            for run in (runs_a, runs_b)[unnamed]:
                run[name] = run.pop("#0")
            return f"commit {side}'s bench names no scenario: its figures are compared with those of {name}"
    return None


def summarize(runs_a, runs_b):
    """Medians per scenario and figure at each commit, ratios B/A, and what is on one side only."""
    scenarios, not_compared = {}, []
    names = sorted({s for run in runs_a + runs_b for s in run})
    for name in names:
        a = [run[name] for run in runs_a if name in run]
        b = [run[name] for run in runs_b if name in run]
        if not a or not b:
            not_compared.append(f"scenario {name}: printed only at commit {'A' if a else 'B'}")
            continue
        keys_a, keys_b = set().union(*a), set().union(*b)
        median_a = {k: statistics.median(r[k] for r in a if k in r) for k in sorted(keys_a)}
        median_b = {k: statistics.median(r[k] for r in b if k in r) for k in sorted(keys_b)}
        ratios = {k: round(median_b[k] / median_a[k], 3) for k in sorted(keys_a & keys_b) if median_a[k]}
        scenarios[name] = {"median_a": median_a, "median_b": median_b, "ratio_b_to_a": ratios}
        for side, only in (("A", keys_a - keys_b), ("B", keys_b - keys_a)):
            if only:
                not_compared.append(f"scenario {name}: only at commit {side}: {', '.join(sorted(only))}")
    return scenarios, not_compared


class Checkout:
    """A commit checked out into a temporary worktree, its bench's options read from its --help."""

    def __init__(self, commit, script, parent):
        self.commit, self.script = commit, script
        try:
            self.sha = git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}")
        except subprocess.CalledProcessError:
            raise SystemExit(f"No commit {commit!r} in {ROOT}.") from None
        self.path = Path(parent) / self.sha[:12]
        if not self.path.exists():
            git("worktree", "add", "--detach", str(self.path), self.sha)
        self.bench = self.path / "bench" / script
        self.known = None
        if self.bench.exists():
            shown = subprocess.run([python(), str(self.bench), "--help"], cwd=self.bench.parent, env=env(),
                                   capture_output=True, text=True, timeout=300)
            self.known = options_of(shown.stdout)

    def run(self, args):
        kept, dropped = keep_known(args, self.known)
        done = subprocess.run([python(), str(self.bench), *kept], cwd=self.bench.parent, env=env(),
                              capture_output=True, text=True)
        if done.returncode:
            return None, dropped, f"exit {done.returncode}: {done.stderr.strip()[-500:]}"
        try:
            return by_scenario(objects(done.stdout)), dropped, None
        except json.JSONDecodeError:
            return None, dropped, f"printed no JSON: {done.stdout.strip()[-300:]}"


def env():
    # Each run makes its own database and locks; the suite's must not leak into it.
    return {k: v for k, v in os.environ.items() if k not in SUITE_ONLY}


def compare(commit_a, commit_b, script, args, repeat=3):
    parent = tempfile.mkdtemp(prefix="mlc-compare-")
    checkouts = []
    try:
        for commit in (commit_a, commit_b):
            checkouts.append(Checkout(commit, script, parent))
        sides = {"a": [], "b": []}
        not_compared, dropped = [], {"a": [], "b": []}
        for checkout in checkouts:
            if checkout.known is None:
                not_compared.append(f"commit {checkout.commit} has no bench/{script}")
        if all(c.known is not None for c in checkouts):
            for n in range(repeat):
                for side, checkout in zip(("a", "b"), checkouts, strict=True):
                    result, left_out, error = checkout.run(args)
                    dropped[side] = left_out  # the same at every run
                    if error:
                        not_compared.append(f"commit {checkout.commit}, run {n + 1}: {error}")
                    else:
                        sides[side].append(result)
        aligned = align(sides["a"], sides["b"])
        scenarios, one_sided = summarize(sides["a"], sides["b"])
        for side, checkout in zip(("a", "b"), checkouts, strict=True):
            if dropped[side]:
                not_compared.append(f"commit {checkout.commit}'s bench does not take: {' '.join(dropped[side])} "
                                    "(run without)")
        return {"compare": script, "args": args, "repeat": repeat,
                "a": {"commit": commit_a, "sha": checkouts[0].sha, "runs": len(sides["a"])},
                "b": {"commit": commit_b, "sha": checkouts[1].sha, "runs": len(sides["b"])},
                "scenarios": scenarios, "not_compared": not_compared + one_sided,
                "notes": [aligned] if aligned else []}
    finally:
        for checkout in checkouts:
            subprocess.run(["git", "worktree", "remove", "--force", str(checkout.path)], cwd=ROOT,
                           capture_output=True)
        shutil.rmtree(parent, ignore_errors=True)


def delegate(script, argv):
    """A bench's --compare: the same command line, less --compare and --repeat, at both commits."""
    commits, repeat, args = split_own(argv)
    print(json.dumps(compare(*commits, script, args, repeat)), flush=True)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], usage=__doc__.split("\n\n")[1])
    parser.add_argument("commit_a")
    parser.add_argument("commit_b")
    parser.add_argument("--repeat", type=int, default=3)
    argv = sys.argv[1:]
    # What follows "--" is the bench's own command line, options and all.
    at = argv.index("--") if "--" in argv else len(argv)
    args, bench = parser.parse_args(argv[:at]), argv[at + 1:]
    if not bench:
        parser.error("name a bench after --, e.g. -- bench_sync.py --scenario demo")
    print(json.dumps(compare(args.commit_a, args.commit_b, Path(bench[0]).name, bench[1:], args.repeat)), flush=True)


if __name__ == "__main__":
    main()
