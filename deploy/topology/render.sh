#!/bin/sh
# Renders a template of deploy/topology/ inside a container, as the tooling's renderTemplate (topology/files.ts)
# does on this machine: every ${NAME} takes the variable NAME, or the content of the file NAME_FILE names (a
# Docker secret); a name set by neither, or a value that would need quoting, fails. Then runs the command
# after `--`.  Usage: render.sh TEMPLATE OUTPUT -- COMMAND...
set -eu
template=$1
out=$2
shift 3
# The rendered file can hold a password: only the server's user reads it.
umask 077
cp "$template" "$out.tmp"
for name in $(grep -o '\${[A-Z_]*}' "$template" | sort -u | tr -d '${}'); do
  eval "value=\${$name-}"
  eval "file=\${${name}_FILE-}"
  if [ -z "$value" ] && [ -n "$file" ]; then value=$(cat "$file"); fi
  if [ -z "$value" ]; then
    echo "$template names \${$name}: set $name or ${name}_FILE" >&2
    exit 1
  fi
  case $value in
    *[!A-Za-z0-9_./:@+-]*)
      echo "$template: the value of \${$name} has characters that would need quoting" >&2
      exit 1
      ;;
  esac
  sed -i "s|\${$name}|$value|g" "$out.tmp"
done
mv "$out.tmp" "$out"
exec "$@"
