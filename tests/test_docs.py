"""The docs hold: every relative link resolves and every command-line option they name exists.

Pages: README.md, CHANGELOG.md and docs/**/*.md, parsed as CommonMark (+ tables) by markdown-it-py, so code is
told from prose as GitHub tells it.

Links: every inline link and image outside code whose target has no scheme (http:, mailto:, ...)
must name an existing file or folder, relative to its page; a `#anchor` (alone: the page itself)
must be the slug of a heading of that Markdown page, by GitHub's rule (the heading's text
lowercased, every character that is not a letter, digit, space, `-` or `_` dropped, spaces made
`-`, a repeated slug numbered -1, -2, ...).

Options, where the program is known from the command itself:
- `python -m distral_repro.MODULE [SUBCOMMAND] ... --opt` in shell code blocks (bash, sh, console
  or no language) and in inline code: against that module's argparse parser (its subcommand's
  included), taken by running the module's `main(["--help"])` in process with argparse's parsing
  intercepted, so nothing runs and the parser the command really uses is read. `python -m
  distral_repro.bench NAME` dispatches to `distral_repro.bench.NAME`; the arguments after
  `forkserver run --` are the training command's.
- `snakemake ...` against Snakemake's own parser (`snakemake.cli.get_argument_parser`), `dvc SUB
  [SUB] ...` against DVC's (`dvc.cli.parser.get_main_parser`): both import in about two seconds.
- `sbatch ...` against `sbatch --help`, where Slurm is installed (CI installs it as root).
- A list "`python -m distral_repro.X SUB` (options: `--a`, `--b`)" in prose: against that command.
- Any other inline code that starts with an option (`--hyper torso=feedforward`) or with the short
  name of a module (`train --view`): against the union of every parser above (prose does not say
  which program it means; sbatch's included where it is installed: without it, a page whose
  only unknown options are such prose ones is skipped, saying which), or that module's parser.
Not checked, and why: `squeue`, `sacct`, `scontrol` (their --help is no list of their options:
Slurm 22.05's squeue accepts `--me` but does not name it, sacct's needs accounting storage;
tests/test_slurm.py runs the commands the docs give against a real cluster), `pip`, `git`,
`pytest` and other tools the package does not own, `bash docs/results/.../*.sh` (records of how a
result was made), and code in other languages (Python, YAML).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import importlib.util
import io
import re
import os
import shlex
import shutil
import subprocess
import tempfile
import urllib.parse
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "distral_repro"
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}
SEPARATORS = {"&&", "||", "|", ";", "&"}
OPTION = re.compile(r"^-{1,2}[A-Za-z][A-Za-z0-9_-]*")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
#: Modules that dispatch their first argument to a submodule's main (no parser of their own).
DISPATCH = {"distral_repro.bench": "distral_repro.bench.{}"}
#: `forkserver run -- ARGS`: ARGS are the training command's.
FORWARD = {"distral_repro.forkserver": "distral_repro.train"}


def doc_pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]


@functools.cache
def parsed(text: str) -> tuple:
    """A Markdown text's tokens, parsed once (the generated tables are large)."""
    return tuple(MarkdownIt("commonmark").enable("table").parse(text))


def _inline_text(inline) -> str:
    """The text a heading shows: its words and code, without emphasis, link or image markup."""
    return "".join(t.content for t in inline.children or [] if t.type in ("text", "code_inline"))


def slug(text: str) -> str:
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors of a Markdown text, repeated slugs numbered."""
    tokens = parsed(text)
    seen: dict[str, int] = {}
    out = set()
    for opening, inline in zip(tokens, tokens[1:]):
        if opening.type != "heading_open":
            continue
        base = slug(_inline_text(inline))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


@functools.cache
def anchors_of(path: Path) -> frozenset[str]:
    return frozenset(anchors(path.read_text(encoding="utf-8")))


def link_targets(text: str) -> list[str]:
    """Targets of the inline links and images of a Markdown text (code excluded)."""
    out = []
    for token in parsed(text):
        for child in token.children or []:
            if child.type == "link_open":
                out.append(child.attrs["href"])
            elif child.type == "image":
                out.append(child.attrs["src"])
    return out


def broken_links(text: str, page: Path) -> list[str]:
    """Each relative link of `text` (as if it were `page`) that names no file, or no heading."""
    problems = []
    for target in link_targets(text):
        if SCHEME.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        if not path_part:
            if urllib.parse.unquote(anchor) not in anchors(text):
                problems.append(f"{target}: no such heading on this page")
            continue
        path = (page.parent / urllib.parse.unquote(path_part)).resolve()
        if not path.exists():
            problems.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and urllib.parse.unquote(anchor) not in anchors_of(path):
            problems.append(f"{target}: no heading #{anchor} in {path.relative_to(ROOT)}")
    return problems


# ---------------------------------------------------------------- parsers


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser


def parser_options(parser: argparse.ArgumentParser) -> tuple[set[str], dict[str, set[str]]]:
    """A parser's own option strings, and each subcommand's (with the parent's)."""
    own, subs = set(), {}
    for action in parser._actions:
        own.update(action.option_strings)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                subs[name] = own | parser_options(sub)[0]
    return own, subs


@functools.cache
def module_options(module: str) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """Options of `python -m MODULE`, read from the parser its main() builds (nothing runs)."""
    main = importlib.import_module(module).main
    originals = {name: getattr(argparse.ArgumentParser, name)
                 for name in ("parse_known_args", "parse_known_intermixed_args")}

    def capture(self, *args, **kwargs):
        raise _Captured(self)

    try:
        for name in originals:
            setattr(argparse.ArgumentParser, name, capture)
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            main(["--help"])
    except _Captured as captured:
        own, subs = parser_options(captured.parser)
        return frozenset(own), {k: frozenset(v) for k, v in subs.items()}
    finally:
        for name, original in originals.items():
            setattr(argparse.ArgumentParser, name, original)
    return frozenset(), {}  # a main without argparse: no options of its own


@functools.cache
def snakemake_options() -> frozenset[str]:
    from snakemake.cli import get_argument_parser

    return frozenset(parser_options(get_argument_parser())[0])


@functools.cache
def sbatch_options() -> frozenset[str] | None:
    """`sbatch --help`'s options, where Slurm is installed (None elsewhere). sbatch reads a cluster
    configuration even for --help; a two-line one, pointing nowhere, is enough."""
    if shutil.which("sbatch") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "slurm.conf"
        conf.write_text("ClusterName=docs\nSlurmctldHost=localhost\n")
        done = subprocess.run(["sbatch", "--help"], capture_output=True, text=True, timeout=30,
                              env={**os.environ, "SLURM_CONF": str(conf)})
    return frozenset(re.findall(r"(?<![\w-])(--?[A-Za-z][A-Za-z0-9-]*)", done.stdout)) or None


@functools.cache
def dvc_tree() -> dict[tuple[str, ...], frozenset[str]]:
    from dvc.cli.parser import get_main_parser

    tree = {}

    def walk(parser, path):
        tree[path] = frozenset(o for a in parser._actions for o in a.option_strings)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, path + (name,))

    walk(get_main_parser(), ())
    return tree


# ---------------------------------------------------------------- commands


def _options_in(tokens: list[str]) -> list[str]:
    out = []
    for token in tokens:
        match = OPTION.match(token.strip("[]()"))
        if match:
            out.append(match.group(0))
    return out


def _positionals(tokens: list[str]) -> list[str]:
    return [t for t in tokens if not t.startswith(("-", "["))]


def without_prefix(tokens: list[str]) -> list[str]:
    """A command without its leading variable assignments (`SBATCH_PARTITION=cpu snakemake ...`)."""
    while tokens and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", tokens[0]) or tokens[0] == "time"):
        tokens = tokens[1:]
    return tokens


def command_problems(tokens: list[str]) -> list[str]:
    """Options of one shell command (a token list) that its program does not have."""
    tokens = without_prefix(tokens)
    if not tokens:
        return []
    if tokens[0] in ("python", "python3") and tokens[1:2] == ["-m"] and len(tokens) > 2 \
            and tokens[2].split(".")[0] == PACKAGE:
        return module_problems(tokens[2], tokens[3:])
    if tokens[0] == "sbatch" and sbatch_options():
        return [f"sbatch {o}" for o in _options_in(tokens[1:]) if o not in sbatch_options()]
    if tokens[0] == "snakemake":
        return [f"snakemake {o}" for o in _options_in(tokens[1:]) if o not in snakemake_options()]
    if tokens[0] == "dvc":
        tree, path = dvc_tree(), ()
        for word in _positionals(tokens[1:]):
            if path + (word,) not in tree:
                break
            path += (word,)
        name = " ".join(("dvc",) + path)
        return [f"{name} {o}" for o in _options_in(tokens[1:]) if o not in tree[path]]
    return []


def module_problems(module: str, args: list[str]) -> list[str]:
    if "--" in args:
        args, rest = args[: args.index("--")], args[args.index("--") + 1:]
        if module in FORWARD:
            return module_problems(FORWARD[module], rest)
    positionals = _positionals(args)
    if module in DISPATCH:
        if not positionals:
            return []
        module, positionals = DISPATCH[module].format(positionals[0]), positionals[1:]
        try:
            importlib.import_module(module)
        except ModuleNotFoundError:
            return [f"{module}: no such command"]
    own, subs = module_options(module)
    name, valid = f"python -m {module}", own
    if subs and positionals and positionals[0] in subs:
        name, valid = f"{name} {positionals[0]}", subs[positionals[0]]
    return [f"{name} {o}" for o in _options_in(args) if o not in valid]


def shell_commands(code: str) -> list[list[str]]:
    """The commands of a shell snippet: continuation lines joined, comments dropped."""
    code = re.sub(r"\\\n", " ", code)
    commands = []
    for line in code.splitlines():
        line = re.sub(r"^\s*\$ ", "", line)
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            tokens = line.split("#")[0].split()
        current: list[str] = []
        for token in tokens:
            if token in SEPARATORS:
                commands.append(current)
                current = []
            else:
                current.append(token)
        commands.append(current)
    return [c for c in commands if c]


@functools.cache
def every_option() -> frozenset[str]:
    """Every option of every program checked: for prose that names an option alone."""
    options = set(snakemake_options()) | (sbatch_options() or set())
    for values in dvc_tree().values():
        options |= values
    for module in documented_modules():
        own, subs = module_options(module)
        options |= own
        for values in subs.values():
            options |= values
    return frozenset(options)


@functools.cache
def documented_modules() -> tuple[str, ...]:
    """The package's modules the docs run with `python -m` (bench's benchmarks included)."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in doc_pages())
    found = set()
    for module, sub in re.findall(r"python -m\s+(distral_repro[\w.]*)(?:\s+(\w+))?", text):
        if module in DISPATCH:
            if sub and importlib.util.find_spec(DISPATCH[module].format(sub)):
                found.add(DISPATCH[module].format(sub))
        elif importlib.util.find_spec(module):
            found.add(module)
    return tuple(sorted(found))


def _short_names() -> dict[str, str]:
    return {m.rsplit(".", 1)[-1]: m for m in documented_modules() if m.count(".") == 1}


def inline_problems(inline) -> list[str]:
    """Options named in the inline code of one paragraph, heading or table cell."""
    problems, listing = [], None  # listing: the command whose "(options: ...)" list is open
    last_command = None
    for child in inline.children or []:
        if child.type == "text":
            if last_command and re.search(r"\(options:?\s*$", child.content):
                listing = last_command
            elif ")" in child.content:
                listing = None
            continue
        if child.type != "code_inline":
            continue
        code = " ".join(child.content.split())
        for tokens in shell_commands(code):
            tokens = without_prefix(tokens) or tokens
            first = tokens[0]
            if first in ("python", "python3", "snakemake", "dvc", "sbatch"):
                problems += command_problems(tokens)
                if tokens[:2] == ["python", "-m"]:
                    last_command = tokens
            elif OPTION.match(first):
                if listing:
                    problems += command_problems(listing + tokens)
                else:
                    problems += [f"(prose) {o}" for o in _options_in(tokens)
                                 if o.startswith("--") and o not in every_option()]
            elif first in _short_names() and len(tokens) > 1:
                problems += module_problems(_short_names()[first], tokens[1:])
    return problems


def unknown_options(text: str) -> list[str]:
    """Every option a Markdown text names that its program does not have."""
    problems = []
    for token in parsed(text):
        if token.type in ("fence", "code_block"):
            if token.type == "fence" and token.info.strip().split(" ")[0] not in SHELL_FENCES:
                continue
            for tokens in shell_commands(token.content):
                problems += command_problems(tokens)
        elif token.type == "inline":
            problems += inline_problems(token)
    return problems


# ---------------------------------------------------------------- tests


def test_the_checkers_catch_a_broken_link_a_missing_heading_and_a_misspelled_option():
    page = ROOT / "docs" / "crafted.md"
    text = ("# A page\n\n## Two words: here\n\n[ok](../README.md) [self](#two-words-here) "
            "[gone](no_such_page.md) [heading](workflow.md#no-such-heading) ![img](results/none.png) "
            "[web](https://example.org/x) `[not a link](nowhere.md)`\n")
    assert broken_links(text, page) == [
        "no_such_page.md: no such file",
        "workflow.md#no-such-heading: no heading #no-such-heading in docs/workflow.md",
        "results/none.png: no such file",
    ]
    assert slug("Start-up: the fork server") == "start-up-the-fork-server"
    assert slug("Cancelled jobs: `squeue`, not `sacct`".replace("`", "")) == "cancelled-jobs-squeue-not-sacct"
    assert anchors("# A\n\n## B\n\n## B\n\n```\n# not a heading\n```\n") == {"a", "b", "b-1"}
    text = ("```bash\npython -m distral_repro.train --algo A3C --env maze \\\n    --stepz-per-task 10 --seed 0\n"
            "snakemake --cores all --profle slurm   # --not-an-option in a comment\n"
            "dvc metrics diff --md --bogus v1 v2\n```\n\n"
            "Run `python -m distral_repro.bench envs` (options: `--num-envs`, `--familys`), then "
            "`python -m distral_repro.analysis.figures fig4 --env maze --outt x.pdf` or `--hyperr a=1` "
            "or `train --veiw first_person`; `pip install --no-such-pip-flag` is not ours.\n")
    assert unknown_options(text) == [
        "python -m distral_repro.train --stepz-per-task",
        "snakemake --profle",
        "dvc metrics diff --bogus",
        "python -m distral_repro.bench.envs --familys",
        "python -m distral_repro.analysis.figures fig4 --outt",
        "(prose) --hyperr",
        "python -m distral_repro.train --veiw",
    ]


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page.read_text(encoding="utf-8"), page) == []


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_option_named_exists(page):
    problems = unknown_options(page.read_text(encoding="utf-8"))
    if problems and sbatch_options() is None and all(p.startswith("(prose)") for p in problems):
        pytest.skip(f"sbatch is not installed, and these may be its options: {', '.join(problems)}")
    assert problems == []
