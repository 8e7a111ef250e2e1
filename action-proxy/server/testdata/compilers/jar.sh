#!/bin/sh
# A compiler for OW_SAVE_JAR: the jar must be in src under its saved name.
src="$2"; bin="$3"
if [ ! -f "$src/app.jar" ]; then echo "jar.sh: no $src/app.jar"; ls -R "$src"; exit 1; fi
mkdir -p "$bin"
cp "$src/app.jar" "$bin/app.jar"
cat > "$bin/exec" <<'SCRIPT'
#!/bin/bash
while read line
do echo '{"jar":"app.jar"}' >&3
done
SCRIPT
chmod 755 "$bin/exec"
