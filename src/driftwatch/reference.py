"""Loading a model's reference data and preparing its profile once.

References are Parquet or CSV files (never pickle: a reference file must not be
able to run code). The profile is built when the daemon starts and reused by
every scheduled check.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.drift.multivariate_methods import (
    FittedMultivariate,
    MultivariateOptions,
    fit_multivariate,
    load_multivariate,
)
from driftwatch.drift.profile import ColumnProfile, ColumnType, ReferenceProfile, infer_type
from driftwatch.errors import ReferenceDataError

__all__ = [
    "EMBEDDING_SAMPLE_ROWS",
    "ReferenceDataError",
    "embedding_sample",
    "is_profile",
    "load_embeddings",
    "load_frame",
    "load_labelled",
    "load_multivariate_reference",
    "load_profile",
    "load_reference",
    "probability_maps",
    "save_profile",
]

# the reference vectors an embedding check compares with: at most this many rows, drawn with a fixed
# seed, whether from the raw file or a saved profile (which stores exactly these), so both agree
EMBEDDING_SAMPLE_ROWS = 5000


def load_frame(path: Path, text: Collection[str] = (), maps: Collection[str | None] = ()) -> pd.DataFrame:
    """A DataFrame from a Parquet or CSV file, with a one-line error naming the file.

    ``text``: CSV columns read as text, as written (the features configured categorical: a ZIP code
    02134 is "02134" in a JSON record, not the number 2134). ``maps``: the columns that may hold maps
    class -> probability (a model's prediction), read as one dict per row whether written as a Parquet
    struct, a Parquet (Arrow) map or CSV cells of JSON objects (`probability_maps`); None is skipped."""
    suffix = path.suffix.lower()
    wanted = [c for c in maps if c is not None]
    try:
        if suffix in {".parquet", ".pq"}:
            frame = _distinct_columns(path, pd.read_parquet(path), None)
            for column in [c for c in wanted if c in frame.columns]:
                frame[column] = probability_maps(frame[column], f"{path}: column {column!r}")
            return frame
        if suffix == ".csv":
            # the header as written: read_csv renames a repeated "a" to "a.1", which would hide it
            header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
            # round_trip: the floats as written; the default parser is off in the last digit, so the same
            # value sent in a JSON record (parsed exactly) fell outside the reference range, and a
            # two-valued column had four values
            # only empty cells are missing: pandas' NA markers ("NA", "None", "null", "n/a", ...) are text
            # in a JSON record (Namibia's "NA", a plan called "None"), so they are text here too...
            dtype = dict.fromkeys(text, str)
            frame = pd.read_csv(
                path, float_precision="round_trip", keep_default_na=False, na_values=[""], dtype=dtype
            )
            frame = _distinct_columns(path, frame, [str(v) for v in header.iloc[0].tolist()])
            for column in [c for c in dtype if c in frame.columns]:
                written = frame[column].dropna().unique()
                frame[column] = frame[column].map({v: _as_written(v) for v in written})
            # ... except in a column that is otherwise numeric (R writes missing values as NA)
            others = [
                c for c in frame.columns if c not in dtype and not pd.api.types.is_numeric_dtype(frame[c])
            ]
            if others:
                again = pd.read_csv(path, float_precision="round_trip", usecols=others)
                for column in others:
                    if pd.api.types.is_numeric_dtype(again[column]):
                        frame[column] = again[column]
            for column in [c for c in wanted if c in frame.columns]:
                frame[column] = probability_maps(frame[column], f"{path}: column {column!r}", csv=True)
            return frame
    except ReferenceDataError:
        raise
    except FileNotFoundError:
        raise ReferenceDataError(f"{path}: file not found") from None
    except Exception as exc:  # pyarrow and the CSV parser raise many types; all mean "unreadable"
        raise ReferenceDataError(
            f"{path}: cannot read as {suffix.lstrip('.')}: {str(exc).splitlines()[0]}"
        ) from None
    raise ReferenceDataError(f"{path}: unsupported file type {suffix!r}; use .parquet or .csv")


def probability_maps(values: pd.Series, where: str, csv: bool = False) -> pd.Series:
    """A prediction column's maps class -> probability as one dict per row, whatever form they came in:
    dicts (a Parquet struct, JSON records) as they are; lists of (class, probability) pairs (what pandas
    makes of a Parquet map, the type Spark and most writers give a dict column) as dicts of text keys,
    as a struct's field names are; text holding a JSON object (a CSV cell ``"{""a"": 0.2, ""b"": 0.8}"``)
    parsed. A column with none of these (labels, scores) is returned as it is; missing cells stay missing
    and a null probability stays None (probability 0, as everywhere).

    Once one cell is a map, every other cell must be one: `ReferenceDataError` names ``where``, the
    first wrong row (the first row is 1; from a ``csv`` file, its line too) and the fix."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return values  # scores or labels: no cell to look at
    text = pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype)
    if text and not values.dropna().str.lstrip().str.startswith("{").any():
        return values  # labels
    cells = values.tolist()
    present = [i for i, cell in enumerate(cells) if not _missing(cell)]
    if all(isinstance(cells[i], Mapping) for i in present) or not any(_map_like(cells[i]) for i in present):
        return values
    out: list[object] = [None] * len(cells)
    for i in present:
        found = _as_map(cells[i])
        if found is None:
            row = f"row {i + 1} (line {i + 2})" if csv else f"row {i + 1}"
            raise ReferenceDataError(
                f"{where}, {row}: {_shown(cells[i])} is not a map class -> probability like the other "
                'rows; write every cell as a JSON object of finite numbers, e.g. {"a": 0.2, "b": 0.8} '
                '(in a CSV file quoted: "{""a"": 0.2, ""b"": 0.8}"), or leave it empty'
            )
        out[i] = found
    return pd.Series(out, index=values.index, name=values.name, dtype=object)


def _missing(cell: object) -> bool:
    return cell is None or cell is pd.NA or (isinstance(cell, float) and math.isnan(cell))


def _map_like(cell: object) -> bool:
    if isinstance(cell, Mapping):
        return True
    if isinstance(cell, str):
        return cell.lstrip().startswith("{")
    return _pairs(cell) is not None


def _pairs(cell: object) -> list[tuple[object, object]] | None:
    """An Arrow map's cell: a list (or array) of (key, value) pairs, else None."""
    if not isinstance(cell, list | tuple | np.ndarray) or len(cell) == 0:
        return None
    pairs: list[tuple[object, object]] = []
    for pair in cell:
        if not isinstance(pair, tuple | list) or len(pair) != 2 or not isinstance(pair[0], str | int):
            return None
        pairs.append((pair[0], pair[1]))
    return pairs


def _as_map(cell: object) -> dict[str, object] | None:
    """``cell`` as a dict class -> probability (None inside for a null), or None when it is not one."""
    if isinstance(cell, Mapping):
        return dict(cell)
    if isinstance(cell, str):
        try:
            parsed = json.loads(cell, parse_constant=_no_constant)
        except ValueError:
            return None
        if not isinstance(parsed, dict):
            return None
        items = list(parsed.items())
    elif isinstance(cell, list | tuple | np.ndarray) and len(cell) == 0:
        items = []  # an empty map: no predicted class, as a struct of nulls
    else:
        found = _pairs(cell)
        if found is None:
            return None
        items = found
    out: dict[str, object] = {}
    for key, value in items:
        if value is None:
            out[str(key)] = None
        elif isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                return None
            out[str(key)] = float(value)
        else:
            return None
    return out


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a finite number")


def _shown(cell: object) -> str:
    text = repr(cell)
    return text if len(text) <= 60 else text[:57] + "..."


_BOOLEANS = {"True": True, "TRUE": True, "true": True, "False": False, "FALSE": False, "false": False}


def _as_written(cell: str) -> object:
    """A CSV cell of a categorical column: the category a JSON record of the same value gives. A number
    as pandas would read it (1.0, 1.50, 1e3; pandas writes the integer codes of a column with a missing
    value as 1.0), unless a number would lose what was written: a leading zero (the ZIP code 02134)
    stays text, as do words (``NA``). ``true``/``TRUE`` are the boolean, as pandas (and JSON) have it."""
    if cell in _BOOLEANS:
        return _BOOLEANS[cell]
    digits = cell.strip().lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        return cell
    for parse in (int, float):  # int first: an id of 17 digits is exact as an int, not as a float
        try:
            number = parse(cell)
        except ValueError:
            continue
        return number if parse is int or math.isfinite(number) else cell  # nan, inf: words
    return cell


def _distinct_columns(path: Path, frame: pd.DataFrame, header: list[str] | None) -> pd.DataFrame:
    """``frame``, unless a column name repeats (which one would a check read?) or a CSV's single
    column looks like a whole header separated by something other than commas."""
    names = header if header is not None else [str(c) for c in frame.columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ReferenceDataError(
            f"{path}: column(s) {', '.join(map(repr, repeated))} appear more than once; "
            "give every column its own name"
        )
    if header is not None and len(names) == 1:
        for sep, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if sep in names[0]:
                raise ReferenceDataError(
                    f"{path}: this looks {name}-separated (its header is one column {names[0]!r}); "
                    "driftwatch reads comma-separated CSV: save it with commas (or as Parquet)"
                )
    return frame


def column_types(
    frame: pd.DataFrame, types: Mapping[str, ColumnType | None], prediction: str | None = None
) -> dict[str, ColumnType]:
    """Each column's type: as given in ``types``, else (None) from the reference's dtypes; the
    prediction column's always from its dtype."""
    out: dict[str, ColumnType] = {}
    for column, kind in types.items():
        if kind is not None:
            out[column] = kind
        elif column in frame.columns:
            out[column] = infer_type(frame[column])
    if prediction and prediction in frame.columns:
        out[prediction] = infer_type(frame[prediction])
    return out


def load_reference(
    path: Path,
    types: Mapping[str, ColumnType | None],
    prediction: str | None = None,
    key: str = "reference",
    classes: Sequence[Hashable] | None = None,
) -> tuple[ReferenceProfile, dict[str, ColumnType]]:
    """Profile a reference: its features (the keys of ``types``, in order), and its prediction column
    when present (maps class -> probability: their predicted classes, a tie going to the first of
    ``classes``, the model's class order).

    ``path`` is a Parquet/CSV file, or a profile directory saved by `save_profile`. ``types`` gives
    each feature's type, or None to infer it from the reference's dtypes. Errors name ``key`` (the
    config key prefix of the model, ``models.NAME``) as where the reference and the features are set.
    """
    wanted = list(types)
    if is_profile(path):
        saved = load_profile(path)
        missing = [c for c in wanted if c not in saved.columns]
        if missing:
            raise ReferenceDataError(
                f"{key}.reference: profile {path} has no column(s) {', '.join(missing)} "
                f"(it has {', '.join(saved.columns)}); rebuild it with these features"
            )
        keep = wanted + ([prediction] if prediction and prediction in saved.columns else [])
        kept = {c: saved.columns[c] for c in keep}
        _check_types(key, types, {c: p.type for c, p in kept.items()})
        return ReferenceProfile(kept, saved.rows), {c: p.type for c, p in kept.items()}
    frame = load_frame(path, [c for c, kind in types.items() if kind == "categorical"], [prediction])
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ReferenceDataError(
            f"{key}.reference: {path} has no column(s) {', '.join(missing)} "
            f"(it has {', '.join(map(str, frame.columns))}); fix the feature names or the file"
        )
    if len(frame) == 0:
        raise ReferenceDataError(f"{key}.reference: {path} has no rows")
    inferred = column_types(frame, types, prediction)
    columns = wanted + ([prediction] if prediction and prediction in frame.columns else [])
    profile = ReferenceProfile.build(frame, columns, inferred, classes)
    return profile, {c: p.type for c, p in profile.columns.items()}


def _check_types(key: str, types: Mapping[str, ColumnType | None], saved: dict[str, ColumnType]) -> None:
    for column, kind in types.items():
        if kind is not None and saved.get(column) != kind:
            raise ReferenceDataError(
                f"{key}.features.{column}: configured as {kind} but the saved profile "
                f"has it as {saved.get(column)}; rebuild the profile or change the type"
            )


PROFILE_FORMAT = "driftwatch-profile"
PROFILE_VERSION = 1


LABELLED_FILE = "labelled.parquet"


def save_profile(
    profile: ReferenceProfile,
    directory: Path,
    labelled: pd.DataFrame | None = None,
    multivariate: Mapping[str, FittedMultivariate] | None = None,
    multivariate_types: Mapping[str, ColumnType] | None = None,
) -> None:
    """Write a profile as a directory: ``profile.json`` plus one Parquet file per column (never pickle).

    ``labelled`` (the reference's prediction and label columns, as read) is kept as one more Parquet
    file, row by row with missing values and dtypes as they are: performance pairs each prediction with
    its own label, which the per-column files (cleaned, each on its own) cannot give back.

    ``multivariate`` (method -> the method fitted on the reference's ``multivariate_types`` columns)
    is kept as the fitted state: JSON settings in profile.json and float arrays (the reference rows'
    errors, say) as Parquet, so a check on the profile scores windows as one on the raw reference.
    """
    directory.mkdir(parents=True, exist_ok=True)
    columns = []
    for index, (name, column) in enumerate(profile.columns.items()):
        file = f"column-{index:04d}.parquet"
        # numeric values in row order (some methods depend on it); the sort is redone on load
        kept = column.original if column.original is not None else column.values
        values = kept.astype(np.float64 if column.type == "numeric" else object)
        pd.DataFrame({"value": values}).to_parquet(directory / file, index=False)
        columns.append(
            {
                "name": name,
                "type": column.type,
                "rows": column.rows,
                "missing_share": column.missing_share,
                "std": column.std,
                "integer": column.integer,
                "file": file,
            }
        )
    meta: dict[str, object] = {
        "format": PROFILE_FORMAT,
        "version": PROFILE_VERSION,
        "rows": profile.rows,
        "columns": columns,
    }
    if profile.embeddings:
        embeddings = []
        for index, (name, vectors) in enumerate(profile.embeddings.items()):
            file = f"embedding-{index:04d}.npy"
            np.save(directory / file, np.ascontiguousarray(vectors, dtype="<f4"), allow_pickle=False)
            embeddings.append(
                {"name": name, "dim": int(vectors.shape[1]), "rows": len(vectors), "file": file}
            )
        meta["embeddings"] = embeddings
    if labelled is not None:
        try:
            labelled.reset_index(drop=True).to_parquet(directory / LABELLED_FILE, index=False)
        except (TypeError, ValueError) as exc:  # pyarrow: a column of mixed types has no Parquet type
            raise ReferenceDataError(
                f"cannot store the columns {', '.join(map(str, labelled.columns))} as Parquet: "
                f"{str(exc).splitlines()[0]}"
            ) from None
        meta["labelled"] = {"columns": [str(c) for c in labelled.columns], "file": LABELLED_FILE}
    if multivariate:
        methods: dict[str, object] = {}
        for method, fitted in multivariate.items():
            state, arrays = fitted.state()
            files = {}
            for name, array in arrays.items():
                file = f"multivariate-{method}-{name}.parquet"
                pd.DataFrame({"value": np.asarray(array, dtype=np.float64)}).to_parquet(
                    directory / file, index=False
                )
                files[name] = file
            types = dict(multivariate_types or {})
            methods[method] = {
                "columns": {column: types.get(column) for column in fitted.columns},
                "state": state,
                "arrays": files,
            }
        meta["multivariate"] = methods
    (directory / "profile.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")


def is_profile(path: Path) -> bool:
    return path.is_dir() and (path / "profile.json").is_file()


def load_profile(directory: Path) -> ReferenceProfile:
    """Read a profile written by `save_profile`; checks give the same answers as with the raw reference."""
    try:
        meta = json.loads((directory / "profile.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReferenceDataError(f"{directory}: not a readable driftwatch profile ({exc})") from None
    if meta.get("format") != PROFILE_FORMAT or meta.get("version") != PROFILE_VERSION:
        raise ReferenceDataError(
            f"{directory}: profile format {meta.get('format')!r} version {meta.get('version')!r} is not "
            f"{PROFILE_FORMAT!r} version {PROFILE_VERSION}; rebuild it with `driftwatch profile`"
        )
    columns: dict[str, ColumnProfile] = {}
    for entry in meta["columns"]:
        try:
            frame = pd.read_parquet(directory / entry["file"])
        except Exception as exc:  # pyarrow raises many types; all mean "unreadable"
            raise ReferenceDataError(f"{directory / entry['file']}: cannot read ({exc})") from None
        kind = entry["type"]
        values = (
            frame["value"].to_numpy(dtype=np.float64)
            if kind == "numeric"
            else frame["value"].to_numpy(dtype=object)
        )
        columns[entry["name"]] = ColumnProfile.from_values(
            entry["name"],
            kind,
            values,
            float(entry["missing_share"]),
            float(entry["std"]),
            bool(entry["integer"]),
        )
    embeddings: dict[str, npt.NDArray[np.float32]] = {}
    for entry in meta.get("embeddings", []):
        try:
            vectors = np.load(directory / entry["file"], allow_pickle=False)
        except Exception as exc:  # numpy raises many types; all mean "unreadable"
            raise ReferenceDataError(f"{directory / entry['file']}: cannot read ({exc})") from None
        embeddings[str(entry["name"])] = np.asarray(vectors, dtype=np.float32).reshape(-1, int(entry["dim"]))
    return ReferenceProfile(columns, int(meta["rows"]), embeddings)


def embedding_sample(
    values: pd.Series, dim: int, where: str, seed: int = 0, rows: int = EMBEDDING_SAMPLE_ROWS
) -> npt.NDArray[np.float32]:
    """A reference column of vectors (lists or arrays; in a CSV, JSON arrays as text) as a float32
    matrix of at most ``rows`` rows, drawn with ``seed`` (kept in the file's order); rows without a
    vector (null, an empty cell) are left out. `ReferenceDataError` naming ``where`` (the config key)
    and the row for a vector that is not ``dim`` finite numbers."""
    kept: list[npt.NDArray[np.float64]] = []
    for row, cell in enumerate(values.tolist()):
        if (
            cell is None
            or (isinstance(cell, float) and math.isnan(cell))
            or (isinstance(cell, str) and not cell)
        ):
            continue
        try:
            vector = np.asarray(json.loads(cell) if isinstance(cell, str) else cell, dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise ReferenceDataError(
                f"{where}: row {row} of column {values.name!r} is not an array of numbers ({exc}); "
                "store each vector as a list of numbers (in a CSV: a JSON array)"
            ) from None
        if vector.shape != (dim,):
            raise ReferenceDataError(
                f"{where}: row {row} of column {values.name!r} has {vector.size} numbers, not dim {dim}; "
                "fix the vectors or the dim"
            )
        if not np.isfinite(vector).all() or np.abs(vector).max(initial=0.0) > np.finfo(np.float32).max:
            raise ReferenceDataError(
                f"{where}: row {row} of column {values.name!r} holds NaN or an infinity (or a number beyond "
                "float32 range); leave the vector out (null) or fix it"
            )
        kept.append(vector)
    matrix = np.asarray(kept, dtype=np.float32).reshape(-1, dim)
    if len(matrix) > rows:
        chosen = np.sort(np.random.default_rng(seed).choice(len(matrix), rows, replace=False))
        matrix = matrix[chosen]
    return matrix


def load_embeddings(
    path: Path, columns: Mapping[str, tuple[str, int]], key: str = "reference"
) -> dict[str, npt.NDArray[np.float32]]:
    """Each embedding's reference vectors: ``columns`` maps an embedding's name to its reference
    column and dim; ``path`` is a raw reference (Parquet, CSV) or a saved profile (which stores the
    same sample, `embedding_sample`). Errors name ``key`` (``models.NAME``)."""
    if not columns:
        return {}
    out: dict[str, npt.NDArray[np.float32]] = {}
    if is_profile(path):
        saved = load_profile(path).embeddings
        for name, (_, dim) in columns.items():
            vectors = saved.get(name)
            if vectors is None:
                raise ReferenceDataError(
                    f"{key}.embeddings.{name}: the profile {path} has no vectors of embedding {name!r} (it has "
                    f"{', '.join(saved) or 'none'}); rebuild it with `driftwatch profile --config ... --model ...`"
                )
            if vectors.shape[1] != dim:
                raise ReferenceDataError(
                    f"{key}.embeddings.{name}.dim: {dim}, but the profile {path} holds vectors of "
                    f"{vectors.shape[1]}; rebuild the profile or fix the dim"
                )
            out[name] = vectors
        return out
    frame = load_frame(path)
    for name, (column, dim) in columns.items():
        if column not in frame.columns:
            raise ReferenceDataError(
                f"{key}.embeddings.{name}.field: the reference {path} has no column {column!r} (it has "
                f"{', '.join(map(str, frame.columns))}); store the reference vectors in a column of that name"
            )
        out[name] = embedding_sample(frame[column], dim, f"{key}.embeddings.{name}")
    return out


def load_labelled(directory: Path) -> pd.DataFrame | None:
    """The labelled rows a profile keeps for performance (see `save_profile`), or None when it has none."""
    try:
        meta = json.loads((directory / "profile.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReferenceDataError(f"{directory}: not a readable driftwatch profile ({exc})") from None
    entry = meta.get("labelled")
    if not isinstance(entry, dict):
        return None
    try:
        return pd.read_parquet(directory / str(entry["file"]))
    except Exception as exc:  # pyarrow raises many types; all mean "unreadable"
        raise ReferenceDataError(f"{directory / str(entry.get('file'))}: cannot read ({exc})") from None


def load_multivariate_reference(
    path: Path,
    methods: Collection[str],
    types: Mapping[str, ColumnType],
    options: MultivariateOptions,
    key: str = "reference",
) -> dict[str, FittedMultivariate]:
    """Each multivariate drift method of ``methods`` fitted on the ``types`` columns of the reference at
    ``path``: fitted on the rows of a Parquet or CSV file, or read from a profile that `save_profile`
    wrote with them (the same numbers). Errors name ``key`` (``models.NAME``)."""
    if not is_profile(path):
        frame = load_frame(path, [c for c, kind in types.items() if kind == "categorical"])
        try:
            return {method: fit_multivariate(method, frame, types, options) for method in methods}
        except ReferenceDataError as exc:
            raise ReferenceDataError(f"{key}.drift.multivariate: {exc}") from None
    try:
        meta = json.loads((path / "profile.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReferenceDataError(f"{path}: not a readable driftwatch profile ({exc})") from None
    saved = meta.get("multivariate") or {}
    rebuild = "rebuild it with `driftwatch profile --config ... --model ...`"
    fitted: dict[str, FittedMultivariate] = {}
    for method in methods:
        entry = saved.get(method)
        if entry is None:
            raise ReferenceDataError(
                f"{key}.drift.multivariate.methods: the profile {path} has no fitted {method} model "
                f"(it has {', '.join(saved) or 'none'}); {rebuild}, or point reference at the Parquet or CSV file"
            )
        columns = dict(entry["columns"])
        if columns != dict(types):
            raise ReferenceDataError(
                f"{key}.drift.multivariate.columns: the profile {path} fitted {method} on "
                f"{', '.join(f'{c} ({t})' for c, t in columns.items())}, not on "
                f"{', '.join(f'{c} ({t})' for c, t in types.items())}; {rebuild}"
            )
        arrays = {}
        for name, file in dict(entry["arrays"]).items():
            try:
                arrays[name] = pd.read_parquet(path / str(file))["value"].to_numpy(dtype=np.float64)
            except Exception as exc:  # pyarrow raises many types; all mean "unreadable"
                raise ReferenceDataError(f"{path / str(file)}: cannot read ({exc})") from None
        try:
            fitted[method] = load_multivariate(method, entry["state"], arrays, options)
        except ReferenceDataError as exc:
            raise ReferenceDataError(f"{key}.drift.multivariate: {exc}") from None
    return fitted
