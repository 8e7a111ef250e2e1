package invoker

import (
	"strings"
	"testing"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

func TestProxyImages(t *testing.T) {
	code, blank := "UEsDBA==", "  "
	for _, tt := range []struct {
		name  string
		exec  whisk.Exec
		proxy bool // isProxyImage(exec.Image)
		uses  bool // usesImage(exec): runs in its own image
	}{
		{"actionloop-base without code", whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base"}, true, false},
		{"actionloop-base with a tag", whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base:nightly"}, true, false},
		{"docker.io prefix", whisk.Exec{Kind: "blackbox", Image: "docker.io/openwhisk/actionloop-v2"}, true, false},
		{"actionloop-base with code", whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}, true, false},
		{"dockerskeleton with code (--native)", whisk.Exec{Kind: "blackbox", Image: "openwhisk/dockerskeleton", Code: &code}, false, false},
		{"dockerskeleton without code", whisk.Exec{Kind: "blackbox", Image: "openwhisk/dockerskeleton"}, false, true},
		{"user image", whisk.Exec{Kind: "blackbox", Image: "openwhisk/example"}, false, true},
		{"user image blank code", whisk.Exec{Kind: "blackbox", Image: "me/img:1", Code: &blank}, false, true},
		{"registry with port", whisk.Exec{Kind: "blackbox", Image: "localhost:5000/openwhisk/actionloop-base"}, false, true},
		{"managed kind", whisk.Exec{Kind: "go:1.26", Code: &code}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := isProxyImage(tt.exec.Image); got != tt.proxy {
				t.Errorf("isProxyImage(%q) = %v, want %v", tt.exec.Image, got, tt.proxy)
			}
			if got := usesImage(tt.exec); got != tt.uses {
				t.Errorf("usesImage = %v, want %v", got, tt.uses)
			}
		})
	}
}

func TestInitPhase(t *testing.T) {
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{nil, PhaseInitializing},
		{[]string{"OW_WAIT_FOR_ACK=1"}, PhaseInitializing},
		{[]string{"OW_COMPILER="}, PhaseInitializing},
		{[]string{"OW_COMPILER=/x/go/compile", "OW_WAIT_FOR_ACK=1"}, PhaseCompiling},
	} {
		if got := initPhase(tt.env); got != tt.want {
			t.Errorf("initPhase(%q) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestNativeHint(t *testing.T) {
	exited := whisk.ErrorResult(whisk.StatusDeveloperError, "cannot start action: command exited")
	other := whisk.ErrorResult(whisk.StatusDeveloperError, "Missing main/no code to execute.")
	for _, tt := range []struct {
		name     string
		kind     string
		res      whisk.Result
		wantHint bool
	}{
		{"blackbox that exited", "blackbox", exited, true},
		{"blackbox other error", "blackbox", other, false},
		{"python that exited", "python:3", exited, false},
		{"application error", "blackbox", whisk.ErrorResult(whisk.StatusApplicationError, "command exited"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := nativeHint(whisk.Exec{Kind: tt.kind}, tt.res)
			has := string(got.Result) != string(tt.res.Result)
			if has != tt.wantHint || (has && !strings.Contains(string(got.Result), "cannot start action: command exited. (The wsk-route dev sandbox runs")) {
				t.Errorf("nativeHint(%s, %s) = %s; want hint %v", tt.kind, tt.res.Result, got.Result, tt.wantHint)
			}
		})
	}
}
