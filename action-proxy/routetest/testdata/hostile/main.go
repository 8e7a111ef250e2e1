// Command hostile is what a hostile action does in its container on an
// invoker host with wsk-route: it tries to take the host agent's place
// and another proxy's frame endpoint, and to obtain the key of a
// namespace it was never started for. It prints one JSON object of what
// each attempt got ("ok" when it succeeded, else the error) and exits.
//
// Its arguments: the run directory, the victim proxy's socket file name,
// and the namespace to claim.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsk-route/wsk-route/internal/agentproto"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: hostile RUN_DIR VICTIM_SOCKET NAMESPACE")
		os.Exit(2)
	}
	runDir, victim, ns := os.Args[1], os.Args[2], os.Args[3]
	agentSock := filepath.Join(runDir, "agent.sock")
	victimSock := filepath.Join(runDir, "proxies", victim)
	got := map[string]string{}
	try := func(name string, err error) {
		if err == nil {
			got[name] = "ok"
		} else {
			got[name] = err.Error()
		}
	}
	try("rename agent socket", os.Rename(agentSock, agentSock+".old"))
	try("remove agent socket", os.Remove(agentSock))
	try("serve an agent socket", listen(filepath.Join(runDir, "agent-evil.sock")))
	try("rename victim socket", os.Rename(victimSock, victimSock+".old"))
	try("remove victim socket", os.Remove(victimSock))
	try("serve a proxy socket", listen(filepath.Join(runDir, "proxies", "evil.sock")))
	try("claim a namespace", claim(agentSock, ns))
	b, _ := json.Marshal(got)
	fmt.Println(string(b))
}

// listen binds a unix socket at path.
func listen(path string) error {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	ln.Close()
	return nil
}

// claim registers with the agent as a proxy of namespace ns and reports
// success only if the agent sent ns's key.
func claim(agentSock, ns string) error {
	d := websocket.Dialer{
		NetDialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var nd net.Dialer
			return nd.DialContext(ctx, "unix", agentSock)
		},
		HandshakeTimeout: 5 * time.Second,
	}
	conn, _, err := d.Dial("ws://agent"+agentproto.Path, nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	b, _ := agentproto.Encode(&agentproto.Message{Type: agentproto.TypeRegister, Register: &agentproto.Register{
		Namespace: ns, Action: "/" + ns + "/evil", Name: "evil",
	}})
	if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		m, err := agentproto.Decode(data)
		if err != nil {
			return err
		}
		if m.Type == agentproto.TypeKey {
			return nil // the attack worked
		}
	}
}
