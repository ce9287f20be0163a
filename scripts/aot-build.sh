# Sourced by the checkout wrappers ./virtpool and ./virtpoold: publishes a NativeAOT binary when its own
# sources are newer than the last build, then the wrapper runs it.
#   aot_build_if_changed NAME FOLDER PROJECT OTHER_PROJECT [PUBLISH_ARGS...]
# Only what goes into the binary counts: hand-written sources and project files, not obj/ and bin/
# (building any project rewrites generated .cs files there) and not the other binary's project.
# Concurrent wrappers wait for one build (flock); the stamp is taken before the build starts, so a
# source edited while it runs is newer than the stamp and builds again next time.
aot_build_if_changed() {
  local name=$1 folder=$2 project=$3 other=$4
  shift 4
  local out="$root/artifacts/$folder" bin stamp
  bin="$out/$name"
  stamp="$out/.built"
  aot_changed() {
    [ ! -x "$bin" ] || [ ! -e "$stamp" ] ||
      [ -n "$(find "$root/src" \( -name obj -o -name bin -o -path "$root/src/$other" \) -prune -o \
              -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.targets' \) -newer "$stamp" \
              -print -quit 2>/dev/null)" ] ||
      [ "$root/Directory.Build.props" -nt "$stamp" ] || [ "$root/Directory.Packages.props" -nt "$stamp" ] ||
      [ "$root/global.json" -nt "$stamp" ]
  }
  aot_changed || return 0
  mkdir -p "$out"
  exec 9>"$out/.build.lock"
  flock 9
  # Another wrapper may have built it while this one waited.
  if aot_changed; then
    local why verbosity
    if [ -x "$bin" ]; then why="sources changed"; else why="first build: ~1-2 min"; fi
    echo "$name: building the NativeAOT binary into artifacts/$folder ($why)..." >&2
    # progress lines on a terminal; scripts reading stderr get only the line above
    if [ -t 2 ]; then verbosity=minimal; else verbosity=quiet; fi
    touch "$stamp.new"
    dotnet publish "$root/src/$project/$project.csproj" -c Release -r linux-x64 -o "$out" \
      -p:DebugType=none -nologo -v "$verbosity" "$@" >&2
    mv -f "$stamp.new" "$stamp"
  fi
  exec 9>&-
}
