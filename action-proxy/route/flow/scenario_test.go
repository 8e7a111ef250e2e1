package flow_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Scripted scenarios, in the style of etcd-io/raft's interaction tests:
// each file in testdata/ is a script of blocks
//
//	command arg key=value ...
//	input lines (a spec, a payload), if any
//	----
//	the output: what the core answered and the actions it returned
//
// separated by blank lines; lines starting with # are comments. The
// commands are listed in scenario_env_test.go (scenarioCommands). After a
// change to the core, regenerate the outputs with
//
//	go test ./action-proxy/route/flow -run TestScenarios -rewrite
//
// and review them as a diff.
var rewrite = flag.Bool("rewrite", false, "rewrite the expected outputs of testdata/*.txt with what the core returns now")

// TestScenarios runs every script in testdata/.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata/")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScript(t, file)
		})
	}
}

// scriptBlock is one command of a script, with what it should print.
type scriptBlock struct {
	line  int    // of the command
	cmd   string // the command line
	input []string
	want  string
}

// scriptItem is a block, or a line kept as it is (a comment, a blank).
type scriptItem struct {
	text  string
	block *scriptBlock
}

func parseScript(file, data string) ([]scriptItem, error) {
	lines := strings.Split(strings.TrimRight(data, "\n"), "\n")
	var items []scriptItem
	for i := 0; i < len(lines); {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			items = append(items, scriptItem{text: l})
			i++
			continue
		}
		b := &scriptBlock{line: i + 1, cmd: l}
		for i++; i < len(lines) && lines[i] != "----"; i++ {
			b.input = append(b.input, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("%s:%d: command %q has no ---- line", file, b.line, l)
		}
		var out []string
		for i++; i < len(lines) && lines[i] != ""; i++ {
			out = append(out, lines[i])
		}
		i++ // the blank line that ends the output
		b.want = strings.Join(out, "\n")
		items = append(items, scriptItem{block: b})
	}
	return items, nil
}

func renderScript(items []scriptItem) string {
	var lines []string
	for _, it := range items {
		if it.block == nil {
			lines = append(lines, it.text)
			continue
		}
		b := it.block
		lines = append(lines, b.cmd)
		lines = append(lines, b.input...)
		lines = append(lines, "----")
		if b.want != "" {
			lines = append(lines, b.want)
		}
		lines = append(lines, "")
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n") + "\n"
}

// runScript runs the blocks of file in one scenario environment.
func runScript(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	items, err := parseScript(file, string(data))
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv()
	for _, it := range items {
		b := it.block
		if b == nil {
			continue
		}
		got, err := env.exec(b.cmd, b.input)
		if err != nil {
			// A mistake in the script: what follows would make no sense.
			// (With -rewrite, the outputs up to here are written.)
			t.Errorf("%s:%d: %s: %v", file, b.line, b.cmd, err)
			break
		}
		if *rewrite {
			b.want = got
			continue
		}
		if got != b.want {
			t.Errorf("%s:%d: %s\n--- want\n%s\n--- got\n%s", file, b.line, b.cmd, b.want, got)
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(renderScript(items)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestScriptFormat checks that a script survives a parse and a render
// unchanged, so that -rewrite only ever touches outputs.
func TestScriptFormat(t *testing.T) {
	const script = "# comment\n\ncmd a=1\n{\"x\":1}\n----\nline 1\nline 2\n\n# between\nother\n----\n\nlast\n----\nout\n"
	items, err := parseScript("x", script)
	if err != nil {
		t.Fatal(err)
	}
	if got := renderScript(items); got != script {
		t.Errorf("render(parse(script)) = %q, want %q", got, script)
	}
	if _, err := parseScript("x", "cmd\nno separator\n"); err == nil {
		t.Error("a block without ---- parsed")
	}
}
