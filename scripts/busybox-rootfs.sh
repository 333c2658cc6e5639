#!/bin/sh
# Writes a busybox root filesystem tarball (from Debian's busybox-static) to
# the file given as $1, or to standard output. Used to make `busybox:latest`
# without a registry:  scripts/busybox-rootfs.sh | berth import -c 'CMD ["sh"]' - busybox:latest
set -eu
BB=/bin/busybox
[ -x "$BB" ] || { echo "busybox-rootfs: $BB not found: apt-get install busybox-static" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/proc" "$root/sys" "$root/dev" "$root/var/www" "$root/home"
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
cp "$BB" "$root/bin/busybox"
for applet in $("$BB" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
cat > "$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
P
cat > "$root/etc/group" <<'G'
root:x:0:
daemon:x:1:
bin:x:2:
tty:x:5:
www-data:x:33:
nogroup:x:65534:
G
echo 'hosts: files dns' > "$root/etc/nsswitch.conf"
out=${1:--}
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$root" -cf "$out" .
