// Package rdma is wsk-route's agent-to-agent transport over RDMA: a byte stream
// (net.Conn and net.Listener) over a reliable-connected queue pair, so the
// length-prefixed frame protocol runs over it unchanged.
//
// Status: this transport has NOT run on RDMA hardware, nor on Soft-RoCE (rdma_rxe).
// The machine it was written on had no RDMA device and a kernel without RDMA support
// (no rdma_rxe module, no NETLINK_RDMA), so the verbs/rdma_cm code has only been
// compiled and run up to its no-device check. What is tested without a device is the
// pure Go core (framing.go): message encoding, the connect hello, credit accounting,
// reassembly, and a randomised two-sided simulation of the credit scheme over a model
// of an RC queue pair (no overrun, no deadlock, bytes in order). TestLoopback runs a
// real round trip when a device exists (or rdma_rxe can be set up) and skips otherwise,
// also under CI.
//
// # Building
//
// The real transport is behind the build tag rdma and uses rdma-core through cgo:
//
//	scripts/install-rdma.sh            # apt-get install libibverbs-dev librdmacm-dev
//	go build -tags rdma ./...
//
// Without the tag, Listen and Dial return
// an *Error wrapping ErrNotBuilt. With the tag, on a host with no RDMA device they
// return an *Error wrapping ErrNoDevice (checked with ibv_get_device_list). The tag
// needs cgo: with CGO_ENABLED=0 and -tags rdma the package has no Listen or Dial, so
// callers fail to compile (loudly) rather than silently getting the stub.
//
// # Usage
//
//	ln, err := rdma.Listen("10.0.0.1:7000")   // rdma_create_id(RDMA_PS_TCP), rdma_bind_addr, rdma_listen
//	c, err := ln.Accept()
//
//	c, err := rdma.Dial(ctx, "rdma", "10.0.0.1:7000")   // ctx bounds resolve and connect
//
// The address is the IP of the netdev the RDMA device is bound to (for RoCE/rxe the
// Ethernet interface's IP). Caller's duties: Close every Conn and the Listener (Close
// frees pinned memory and kernel objects; nothing is freed by the garbage collector);
// do not expect Write to be zero-copy (it copies into registered buffers).
//
// # Protocol
//
// Each side registers bufCount (16) send and 16 receive buffers of bufSize (64 KiB)
// and posts all receives before connecting; the rdma_connect/rdma_accept private data
// carries a 12-byte hello (magic "WSKR", version, buffer count and size) and the
// acceptor rejects a peer that announces anything else. Every message is one SEND
// into one posted receive: an 8-byte header (kind data/credit/fin, a credit grant,
// payload length) and up to 64 KiB minus 8 of payload. Write splits into such
// messages; Read reassembles them into the stream, and re-posts a receive buffer once
// its bytes are read.
//
// Credits: a side may send only into receives the peer has told it about (its credits,
// initially the peer's window), so a sender never overruns the posted receives (no RNR
// retries). Grants for re-posted receives ride on every message; a credit-only message
// (grant of at least 2) is sent when half a window is owed or the peer is running low.
// The last credit is only spent by a message that grants credits back, which is what
// keeps the two sides from both ending at zero. A slow reader therefore back-pressures
// the writer exactly like a full TCP window.
//
// # Goroutines and completion handling
//
// Each Conn owns one goroutine, started when the connection is established and stopped
// by Close: it poll(2)s the completion channel, the connection's rdma_cm event channel
// (a DISCONNECTED event ends the stream) and a stop pipe, re-arms the CQ and drains it.
// Read and Write wait on triggers it fires, and honour deadlines. Close sends a FIN,
// waits up to 2 s for posted sends to complete (so bytes written before Close are
// delivered), calls rdma_disconnect, stops the goroutine, waits for Reads and Writes
// in progress to return, and destroys the QP, CQ, MRs, PD, cm_id and channel.
// The Listener has no goroutine: Accept polls the listening channel itself.
//
// # Errors
//
// Errors are *Error: "rdma: <step> <addr>: <cause>", where step is the verbs or
// rdma_cm call that failed and the cause is its errno (a syscall.Errno, so
// errors.Is(err, syscall.ENODEV) works), e.g. "rdma: rdma_resolve_addr 10.0.0.2:7000:
// no such device". Deadline expiry is a *net.OpError with Timeout() true; use after
// Close wraps net.ErrClosed; writing after the peer closed wraps ErrPeerClosed.
package rdma
