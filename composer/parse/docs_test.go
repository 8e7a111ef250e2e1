package parse_test

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"github.com/wsk-route/wsk-route/composer/parse"
)

// TestDocExamples parses every YAML example of docs/workflows.md, so the
// documentation cannot drift from the parser, and checks that the JSON
// Schema is valid JSON.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/workflows.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d yaml examples in docs/workflows.md, want at least 2", len(blocks))
	}
	for i, b := range blocks {
		if _, err := parse.YAML("workflows.md example", b[1]); err != nil {
			t.Errorf("example %d: %v", i+1, err)
		}
	}
	schema, err := os.ReadFile("../../docs/workflow.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(schema) {
		t.Error("docs/workflow.schema.json is not valid JSON")
	}
}
