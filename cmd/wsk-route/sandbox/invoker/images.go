package invoker

import (
	"context"
	"fmt"
	"strings"

	"github.com/wsk-route/wsk-route/internal/whisk"
)

// proxyImages are the images whose entrypoint is OpenWhisk's ActionLoop
// proxy and nothing else: the sandbox's proxy is a drop-in replacement of
// theirs, so an action of one of them runs as it would there, without
// the image (the sandbox pulls no image). openwhisk/dockerskeleton is not
// one: its proxy runs code once per activation (skeletonEnv), and without
// code it runs a stub of its own.
var proxyImages = map[string]bool{
	"openwhisk/actionloop-base": true,
	"openwhisk/actionloop-v2":   true,
	"openwhisk/actionloop":      true,
}

// isProxyImage reports whether image (with or without a tag or the
// docker.io/ registry) is one the sandbox runs with its own proxy.
func isProxyImage(image string) bool { return proxyImages[imageName(image)] }

// imageName is image without a tag and without the docker.io/ registry
// (or its library/ prefix).
func imageName(image string) string {
	name := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(image), "docker.io/"), "library/")
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	return name
}

// hasCode reports whether a blackbox exec carries its code (--native, or
// --docker IMAGE with an artifact).
func hasCode(e whisk.Exec) bool { return e.Code != nil && strings.TrimSpace(*e.Code) != "" }

// usesImage reports whether e runs in its own image rather than the
// sandbox's proxy: a blackbox action without code, of an image other than
// the ActionLoop ones.
func usesImage(e whisk.Exec) bool {
	return e.Kind == whisk.KindBlackbox && !hasCode(e) && !isProxyImage(e.Image)
}

// imageProblem says why the action's image cannot run here, as the
// activation's developer error, with OpenWhisk's message first
// (Messages.imagePullError); "" when it can. Only a blackbox action
// without code needs its image: process mode runs no image, and docker
// mode only one that is already local, since the sandbox pulls nothing.
func (i *Invoker) imageProblem(ctx context.Context, e whisk.Exec) string {
	if !usesImage(e) {
		return ""
	}
	pull := fmt.Sprintf("Failed to pull container image '%s'.", e.Image)
	if i.cfg.Docker == nil {
		return pull + " The wsk-route dev sandbox runs actions as local processes and cannot run a docker image: start it with --docker, with the image already in the local docker (it pulls nothing), or give the action its code (wsk action create NAME exec --native, or an artifact with --docker)."
	}
	if _, err := docker(ctx, "image", "inspect", "--format", "{{.Id}}", e.Image); err != nil {
		if ctx.Err() != nil {
			return ""
		}
		return pull + " The wsk-route dev sandbox pulls no images, and the local docker does not have this one (docker image inspect " + e.Image + " failed): build, load or tag it locally first."
	}
	return ""
}

// skeletonImage is OpenWhisk's image for `wsk action create --native`:
// its proxy runs the action's code once per activation, with the input in
// argv[1] and the result on the last line of standard output.
const skeletonImage = "openwhisk/dockerskeleton"

// skeletonEnv is what the proxy of an action with code for skeletonImage
// needs in its environment to run that code as dockerskeleton does
// (action-proxy/skeleton); nil for any other action, whose code the proxy
// runs as an ActionLoop executable.
func skeletonEnv(e whisk.Exec) []string {
	if e.Kind == whisk.KindBlackbox && hasCode(e) && imageName(e.Image) == skeletonImage {
		return []string{"WSK_ROUTE_SKELETON=1"}
	}
	return nil
}
