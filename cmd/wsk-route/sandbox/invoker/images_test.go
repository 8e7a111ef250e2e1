package invoker

import (
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

func TestSkeletonEnv(t *testing.T) {
	code := "UEsDBA=="
	for _, tt := range []struct {
		name string
		exec whisk.Exec
		want bool
	}{
		{"--native", whisk.Exec{Kind: "blackbox", Image: "openwhisk/dockerskeleton", Code: &code}, true},
		{"--docker openwhisk/dockerskeleton:nightly with code", whisk.Exec{Kind: "blackbox", Image: "docker.io/openwhisk/dockerskeleton:nightly", Code: &code}, true},
		{"dockerskeleton without code", whisk.Exec{Kind: "blackbox", Image: "openwhisk/dockerskeleton"}, false},
		{"actionloop-base with code", whisk.Exec{Kind: "blackbox", Image: "openwhisk/actionloop-base", Code: &code}, false},
		{"another registry's dockerskeleton", whisk.Exec{Kind: "blackbox", Image: "example.com/openwhisk/dockerskeleton", Code: &code}, false},
		{"managed kind", whisk.Exec{Kind: "python:3", Code: &code}, false},
	} {
		if got := skeletonEnv(tt.exec) != nil; got != tt.want {
			t.Errorf("%s: skeletonEnv = %v, want WSK_ROUTE_SKELETON=1: %v", tt.name, skeletonEnv(tt.exec), tt.want)
		}
	}
}
