# Shared by the scripts under Tests/ that check ThingBridge against Python libraries we did not
# write. Source it, then call:
#
#   python_venv LABEL PYTHON VENV IMPORT PACKAGE WHEN_UNAVAILABLE
#
# Makes sure VENV (a virtualenv made with PYTHON) can `import IMPORT`, installing PACKAGE (a pip
# requirement) when it cannot. WHEN_UNAVAILABLE says what a missing python, venv module or package
# (no network) means: `skip` prints "LABEL: skipped (why)" and exits the script with 0; `fail`
# prints the reason to standard error and exits with 3.
python_venv() {
    local label="$1" python="$2" venv="$3" module="$4" package="$5" when="$6"
    unavailable() {
        if [[ "$when" == skip ]]; then
            echo "$label: skipped ($1)"
            exit 0
        fi
        echo "$label: $1" >&2
        exit 3
    }
    command -v "$python" >/dev/null 2>&1 || unavailable "$python not found"
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "$label: creating virtualenv $venv"
        if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
            rm -rf "$venv"
            unavailable "cannot create a virtualenv with $python; is the venv module installed?"
        fi
    fi
    if ! "$venv/bin/python" -c "import $module" >/dev/null 2>&1; then
        echo "$label: installing $package"
        local log
        if ! log="$("$venv/bin/python" -m pip install --disable-pip-version-check -q "$package" 2>&1)"; then
            unavailable "pip install $package failed: ${log##*$'\n'}"
        fi
    fi
}
