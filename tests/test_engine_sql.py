"""Engine-specific SQL stays in dispatch branches (STYLE: "Many engines").

A static check of models/ and macros/: each construct below is SQL that some of the three engines lack or
read differently (DuckDB-only functions; a regexp flags argument or a backslash escape in a string literal,
which Spark reads otherwise, silently; `at time zone`, which Spark lacks; `regexp_extract`, which Postgres
lacks). It may appear only in a dispatch branch of a macro: in a `<engine>__` branch of an engine that has
it, or in `default__` when every engine lacking it has a branch of its own. So a new model cannot slip
DuckDB-only SQL past engines that no test happens to cover; the tests of the three engines (tests/engines.py)
show the branches give the same marts.
"""

from __future__ import annotations

import re

from tests.support import REPO

ENGINES = {"duckdb", "postgres", "spark"}
DUCKDB_ONLY = ENGINES - {"duckdb"}
# what: (pattern, the engines that lack it or read it otherwise)
RULES = {
    "SQL strftime": (r"(?<![.\w])strftime\s*\(", DUCKDB_ONLY),
    "epoch functions": (r"\bepoch(_ms|_us|_ns)?\s*\(", DUCKDB_ONLY),
    "list functions": (r"\blist_\w+\s*\(|\blist\s*\(", DUCKDB_ONLY),
    "struct_pack": (r"\bstruct_pack\s*\(", DUCKDB_ONLY),
    "arg_max / arg_min": (r"\barg_(max|min)\s*\(", DUCKDB_ONLY),
    "regexp_matches": (r"\bregexp_matches\s*\(", DUCKDB_ONLY),
    "string_split / str_split": (r"\b(string_split|str_split)\s*\(", DUCKDB_ONLY),
    "date_diff / date_sub": (r"\bdate_(diff|sub)\s*\(", DUCKDB_ONLY),
    "file readers": (r"\bread_(parquet|csv|csv_auto|json|json_auto)\s*\(", DUCKDB_ONLY),
    "group by all / order by all": (r"\b(group|order)\s+by\s+all\b", DUCKDB_ONLY),
    "select * exclude / replace": (r"\*\s*(exclude|replace)\s*\(", DUCKDB_ONLY),
    "`::` cast": (r"\)\s*::\s*\w|\w::\w", {"spark"}),
    "regexp_replace with a flags argument": (
        lambda sql: any(len(a) == 4 for a in calls(sql, "regexp_replace")),
        {"spark"},
    ),
    "a regexp escape in a string literal": (r"'[^'\n]*(?<!\\)\\[sSdDwWbB.][^'\n]*'", {"spark"}),
    "at time zone": (r"\bat\s+time\s+zone\b", {"spark"}),
    "timestamptz": (r"\btimestamptz\b", {"spark"}),
    "regexp_extract": (r"\bregexp_extract\s*\(", {"postgres"}),
}


def calls(sql: str, function: str) -> list[list[str]]:
    """The top-level arguments of each call of `function` in `sql`."""
    out = []
    for match in re.finditer(rf"\b{function}\s*\(", sql, re.I):
        depth, args, start = 1, [], match.end()
        for i in range(match.end(), len(sql)):
            if sql[i] == "(":
                depth += 1
            elif sql[i] == ")":
                depth -= 1
                if depth == 0:
                    args.append(sql[start:i])
                    break
            elif sql[i] == "," and depth == 1:
                args.append(sql[start:i])
                start = i + 1
        out.append(args)
    return out


MACRO = re.compile(r"{%-?\s*macro\s+(\w+)\s*\(.*?%}(.*?){%-?\s*endmacro\s*-?%}", re.S)
COMMENTS = re.compile(r"{#.*?#}|--[^\n]*", re.S)


def violations(files: dict[str, str]) -> list[str]:
    """`where: what (lacking engines)` for each construct outside the branches allowed to hold it."""
    macros: dict[str, str] = {}
    outside: dict[str, str] = {}
    for name, text in files.items():
        text = COMMENTS.sub("", text)
        macros.update(MACRO.findall(text))
        outside[name] = MACRO.sub("", text)

    def allowed(macro: str | None, lacking: set[str]) -> bool:
        if macro is None or "__" not in macro:
            return False
        engine, family = macro.split("__", 1)
        if engine == "default":
            return all(f"{other}__{family}" in macros for other in lacking)
        return engine not in lacking

    found = []
    places = [(f"{file} (outside macros)", None, text) for file, text in outside.items()]
    places += [(f"macro {name}", name, body) for name, body in macros.items()]
    for where, macro, body in places:
        for what, (pattern, lacking) in RULES.items():
            present = pattern(body) if callable(pattern) else re.search(pattern, body, re.I)
            if present and not allowed(macro, lacking):
                found.append(f"{where}: {what} (not on {', '.join(sorted(lacking))})")
    return found


def project_sql() -> dict[str, str]:
    return {
        str(path.relative_to(REPO)): path.read_text()
        for folder in ("models", "macros")
        for path in sorted((REPO / folder).rglob("*.sql"))
    }


def test_no_engine_specific_sql_outside_its_dispatch_branch():
    assert violations(project_sql()) == []


def test_the_check_finds_what_it_looks_for():
    """The rules fire in a model, and a construct is accepted only in a branch allowed to hold it."""
    model = """
    select
        regexp_replace(lower(company), '\\s+', ' ', 'g') as company_key,
        strftime(created_at, '%Y') as year,
        created_at::date as day,
        created_at at time zone 'UTC' as utc
    from {{ ref('x') }}
    group by all
    """
    macros = """
    {% macro tidy(c) %}{{ return(adapter.dispatch('tidy', 'marketo_people')(c)) }}{% endmacro %}
    {% macro default__tidy(c) %}regexp_replace({{ c }}, '\\s+', ' ', 'g'){% endmacro %}
    {% macro spark__tidy(c) %}regexp_replace({{ c }}, '\\\\s+', ' '){% endmacro %}
    {% macro default__clean(c) %}regexp_replace({{ c }}, '\\.$', '', 'g'){% endmacro %}
    {% macro spark__clean(c) %}regexp_replace({{ c }}, '\\.$', ''){% endmacro %}
    {% macro duckdb__day(c) %}{{ c }}::date{% endmacro %}
    {% macro default__day(c) %}cast({{ c }} as date){% endmacro %}
    {% macro postgres__year(c) %}strftime({{ c }}, '%Y'){% endmacro %}
    {% macro stamp() %}{{ run_started_at.strftime('%Y') }}{% endmacro %}
    """
    found = violations({"models/m.sql": model, "macros/m.sql": macros})
    assert found == [
        "models/m.sql (outside macros): SQL strftime (not on postgres, spark)",
        "models/m.sql (outside macros): group by all / order by all (not on postgres, spark)",
        "models/m.sql (outside macros): `::` cast (not on spark)",
        "models/m.sql (outside macros): regexp_replace with a flags argument (not on spark)",
        "models/m.sql (outside macros): a regexp escape in a string literal (not on spark)",
        "models/m.sql (outside macros): at time zone (not on spark)",
        # Spark would read '\.' as '.'
        "macro spark__clean: a regexp escape in a string literal (not on spark)",
        "macro postgres__year: SQL strftime (not on postgres, spark)",
    ]
