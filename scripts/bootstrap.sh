# Sourced by ./lanchat and ./run-tests: makes sure .venv exists with what is needed.
# Needs only Python 3.11+ with venv and pip (and PyPI) on the machine.

VENV="${LANCHAT_VENV:-$ROOT/.venv}"

find_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "lanchat needs Python 3.11 or newer (with venv)" >&2
    return 1
}

# ensure_venv EXTRA: install the project (with the optional dependency group EXTRA, if any)
# into the venv, again only when pyproject.toml changed since the last install.
ensure_venv() {
    local extra="$1" python stamp want spec
    if [ ! -x "$VENV/bin/python" ]; then
        python="$(find_python)"
        echo "lanchat: creating $VENV" >&2
        "$python" -m venv "$VENV"
    fi
    stamp="$VENV/.lanchat-installed${extra:+-$extra}"
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
    # An install with an extra group (./run-tests) holds everything the plain one needs.
    if [ -z "$extra" ] && grep -qxF "$want" "$VENV"/.lanchat-installed-* 2>/dev/null; then
        return 0
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        spec="$ROOT"
        [ -n "$extra" ] && spec="$ROOT[$extra]"
        echo "lanchat: installing dependencies into $VENV" >&2
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$spec" >&2
        echo "$want" >"$stamp"
    fi
}
