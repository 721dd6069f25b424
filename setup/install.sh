#!/usr/bin/env bash
# The checkout's entry point to mobilekit's setup (README): the scripts themselves ship inside
# the package (mobilekit/setup/), so an installed wheel runs the same ones via `mobilekit setup`.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../mobilekit/setup/install.sh" "$@"
