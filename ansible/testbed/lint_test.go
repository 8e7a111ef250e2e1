package testbed

import (
	"os/exec"
	"testing"

	"github.com/wsk-route/wsk-route/internal/testenv"
)

// The playbooks pass ansible-lint and ansible's own syntax check, in every
// run of the tests (a few seconds; the test bed itself is gated, see
// TestTestbed).
func TestPlaybooksLint(t *testing.T) {
	for _, tool := range []string{"ansible-lint", "ansible-playbook"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Skip(t, "linting the playbooks needs %s (scripts/setup.sh installs it)", tool)
		}
	}
	dir := repoRoot(t) + "/ansible"
	for _, args := range [][]string{
		{"ansible-lint", "-q"},
		{"ansible-playbook", "-i", "environments/testbed", "wsk-route.yml", "--syntax-check"},
		{"ansible-playbook", "-i", "environments/testbed", "wsk-route-clean.yml", "--syntax-check"},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
}
