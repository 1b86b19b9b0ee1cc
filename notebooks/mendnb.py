"""mendnb -- helpers the notebooks share: find the repository, the mend
binary and the NAB data, score NAB files with `mend score`, and read what
`mend eval` prints. Plain standard library + pandas; run with Debian's
/usr/bin/python3 (make notebooks does)."""
import os
import pathlib
import re
import subprocess
import tempfile

import pandas as pd

ROOT = pathlib.Path(__file__).resolve().parent.parent
MEND = ROOT / "bin" / "mend"
NAB = pathlib.Path(os.environ.get("NAB_DIR", ROOT.parent / "shared" / "data" / "nab")).resolve()


def check():
    """Fails early with a message a person can act on."""
    if not MEND.exists():
        raise SystemExit(f"{MEND} is missing: run `make` in {ROOT} first")
    if not (NAB / "windows.csv").exists():
        raise SystemExit(f"NAB data not found at {NAB}: set NAB_DIR")


def nab_files():
    return sorted(p.relative_to(NAB / "data") for p in (NAB / "data").rglob("*.csv"))


def score_nab(config_yaml=None, out=None):
    """Scores every NAB file with `mend score` (optionally with a config
    given as YAML text) into a fresh directory; returns its path."""
    out = pathlib.Path(out or tempfile.mkdtemp(prefix="mend-nb-"))
    args = [str(MEND), "score"]
    if config_yaml:
        cfg = out / "config.yaml"
        cfg.write_text(config_yaml)
        args += ["--config", str(cfg)]
    res = out / "res"
    for f in nab_files():
        (res / f).parent.mkdir(parents=True, exist_ok=True)
        with open(NAB / "data" / f) as src, open(res / f, "w") as dst:
            subprocess.run(args, stdin=src, stdout=dst, check=True)
    return res


def evaluate(res, per_file=False, threshold=None):
    """Runs `mend eval` on a results directory; returns (text, summary dict,
    per-file DataFrame or None)."""
    args = [str(MEND), "eval", "--windows", str(NAB / "windows.csv")]
    if per_file:
        args.append("--per-file")
    if threshold is not None:
        args += ["--threshold", str(threshold)]
    text = subprocess.run(args + [str(res)], capture_output=True, text=True, check=True).stdout
    summary = {}
    for line in text.splitlines():
        m = re.match(r"nab (loco )?standard=(\S+) low_fp=(\S+) low_fn=(\S+)", line)
        if m:
            key = "loco" if m.group(1) else "dev"
            summary[key + "_standard"] = float(m.group(2)) if m.group(2) != "-" else float("nan")
            summary[key + "_low_fp"] = float(m.group(3)) if m.group(3) != "-" else float("nan")
            summary[key + "_low_fn"] = float(m.group(4)) if m.group(4) != "-" else float("nan")
        m = re.match(r"standard\s+(\S+)\s", line)
        if m:
            summary["threshold"] = float(m.group(1))
        m = re.match(r"per file, standard profile at threshold (\S+):", line)
        if m:
            summary["threshold"] = float(m.group(1))
    table = None
    if per_file:
        rows = []
        lines = text.splitlines()
        start = next(i for i, l in enumerate(lines) if l.startswith("file "))
        for l in lines[start + 1:]:
            if not l.strip():
                break
            p = l.split()
            rows.append(dict(file=p[0], rows=int(p[1]), windows=int(p[2]), hit=int(p[3]),
                             fp=int(p[4]), raw=float(p[5]),
                             score=float(p[6]) if p[6] != "-" else float("nan")))
        table = pd.DataFrame(rows)
    return text, summary, table


def read_scored(path):
    df = pd.read_csv(path)
    df.columns = ["timestamp", "value", "score"]
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    return df


def windows():
    w = pd.read_csv(NAB / "windows.csv")
    w["window_start"] = pd.to_datetime(w["window_start"])
    w["window_end"] = pd.to_datetime(w["window_end"])
    return w
