#!/bin/sh
# install.sh BIN DESTDIR PREFIX SYSCONFDIR -- what `make install` does: the
# binary, a man page per command (generated from the binary's own --help,
# so they cannot drift), bash completion, an example configuration and the
# systemd unit (paths filled in).
set -eu
BIN=$1; DESTDIR=${2:-}; PREFIX=${3:-/usr/local}; SYSCONFDIR=${4:-/etc}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
bindir=$PREFIX/bin
mandir=$PREFIX/share/man/man1
compdir=$PREFIX/share/bash-completion/completions
docdir=$PREFIX/share/doc/mend
unitdir=$PREFIX/lib/systemd/system
[ "$PREFIX" = /usr ] && unitdir=/lib/systemd/system
install -d "$DESTDIR$bindir" "$DESTDIR$mandir" "$DESTDIR$compdir" "$DESTDIR$docdir" "$DESTDIR$unitdir" \
    "$DESTDIR$SYSCONFDIR/mend"
install -m 0755 "$BIN" "$DESTDIR$bindir/mend"
version=$("$BIN" --version | sed 's/^mend //')

# roff from --help: the text kept as it is (.nf), one page per command
man_page() { # name title text-command...
    name=$1; title=$2; shift 2
    {
        printf '.TH %s 1 "" "mend %s" "mend manual"\n' "$(echo "$name" | tr a-z A-Z)" "$version"
        printf '.SH NAME\n%s \\- %s\n' "$name" "$title"
        printf '.SH DESCRIPTION\n.nf\n'
        "$@" | sed -e 's/\\/\\\\/g' -e 's/^[.'"'"']/\\\&&/'
        printf '.fi\n.SH SEE ALSO\n'
        printf 'mend(1), mend-run(1), mend-replay(1), mend-score(1), mend-train(1), mend-eval(1), '
        printf 'mend-templates(1), mend-localise(1)\n'
    } > "$DESTDIR$mandir/$name.1"
}
man_page mend "streaming anomaly detection over metrics" "$BIN" --help
"$BIN" --help | sed -n '/^commands:/,/^$/s/^  \([a-z]*\)  *\(.*\)$/\1 \2/p' | while read -r cmd summary; do
    case $cmd in version|help) continue ;; esac
    man_page "mend-$cmd" "$summary" "$BIN" "$cmd" --help
done

install -m 0644 "$ROOT/dist/mend.bash-completion" "$DESTDIR$compdir/mend"
install -m 0644 "$ROOT/dist/mend.yaml" "$DESTDIR$docdir/mend.yaml.example"
# the configuration itself is never overwritten
[ -e "$DESTDIR$SYSCONFDIR/mend/mend.yaml" ] || install -m 0644 "$ROOT/dist/mend.yaml" "$DESTDIR$SYSCONFDIR/mend/mend.yaml"
sed -e "s|@BINDIR@|$bindir|g" -e "s|@SYSCONFDIR@|$SYSCONFDIR|g" "$ROOT/dist/mend.service" \
    > "$DESTDIR$unitdir/mend.service"
chmod 0644 "$DESTDIR$unitdir/mend.service"
echo "installed mend $version under $DESTDIR$PREFIX (unit: $DESTDIR$unitdir/mend.service)"
