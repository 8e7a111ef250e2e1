//go:build rdma

// rdma_shim.c: see rdma_shim.h.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "rdma_shim.h"

// wsk_device_count returns how many RDMA devices exist, or -1 with errno set.
int wsk_device_count(void) {
	int n = 0;
	struct ibv_device **l = ibv_get_device_list(&n);
	if (l == NULL) return -1;
	ibv_free_device_list(l);
	return n;
}

int wsk_nonblock(int fd) {
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0) return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

// wsk_sockaddr fills ss from a 4- or 16-byte IP (or none: IPv4 any) and a port.
void wsk_sockaddr(struct sockaddr_storage *ss, const unsigned char *ip, int iplen, int port) {
	memset(ss, 0, sizeof *ss);
	if (iplen == 16) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, ip, 16);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (iplen == 4) memcpy(&s4->sin_addr, ip, 4);
	}
}

// wsk_addr copies the IP of sa into ip (16 bytes) and returns its length (0 if unknown)
// and the port in *port.
int wsk_addr(struct sockaddr *sa, unsigned char *ip, int *port) {
	if (sa == NULL) return 0;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
		memcpy(ip, &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
		memcpy(ip, &s6->sin6_addr, 16);
		*port = ntohs(s6->sin6_port);
		return 16;
	}
	return 0;
}


// wsk_get_event takes one event off a non-blocking channel, copies what we use and
// acks it. Returns 1, 0 when there is none (EAGAIN), or -1 with errno set.
int wsk_get_event(struct rdma_event_channel *ch, struct wsk_event *out) {
	struct rdma_cm_event *ev;
	if (rdma_get_cm_event(ch, &ev) != 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	out->type = ev->event;
	out->status = ev->status;
	out->id = ev->id;
	out->priv_len = 0;
	if ((ev->event == RDMA_CM_EVENT_CONNECT_REQUEST || ev->event == RDMA_CM_EVENT_ESTABLISHED) &&
	    ev->param.conn.private_data != NULL) {
		int n = ev->param.conn.private_data_len;
		if (n > (int)sizeof out->priv) n = sizeof out->priv;
		memcpy(out->priv, ev->param.conn.private_data, n);
		out->priv_len = n;
	}
	rdma_ack_cm_event(ev);
	return 1;
}

void wsk_teardown(struct rdma_cm_id *id, struct wsk_res *r) {
	if (r->qp) { rdma_destroy_qp(id); r->qp = 0; }
	if (r->smr) { ibv_dereg_mr(r->smr); r->smr = NULL; }
	if (r->rmr) { ibv_dereg_mr(r->rmr); r->rmr = NULL; }
	free(r->sbuf); r->sbuf = NULL;
	free(r->rbuf); r->rbuf = NULL;
	if (r->cq) { ibv_destroy_cq(r->cq); r->cq = NULL; }
	if (r->cc) { ibv_destroy_comp_channel(r->cc); r->cc = NULL; }
	if (r->pd) { ibv_dealloc_pd(r->pd); r->pd = NULL; }
}

int wsk_post_recv(struct rdma_cm_id *id, struct wsk_res *r, int idx) {
	struct ibv_sge sge = { .addr = (uintptr_t)(r->rbuf + (size_t)idx * r->size), .length = r->size, .lkey = r->rmr->lkey };
	struct ibv_recv_wr wr = { .wr_id = (uint64_t)idx, .sg_list = &sge, .num_sge = 1 }, *bad;
	return ibv_post_recv(id->qp, &wr, &bad);
}

int wsk_post_send(struct rdma_cm_id *id, struct wsk_res *r, int idx, int len) {
	struct ibv_sge sge = { .addr = (uintptr_t)(r->sbuf + (size_t)idx * r->size), .length = len, .lkey = r->smr->lkey };
	struct ibv_send_wr wr = { .wr_id = (1ull << 32) | (uint64_t)idx, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED }, *bad;
	return ibv_post_send(id->qp, &wr, &bad);
}

// wsk_setup creates the PD, completion channel, CQ, RC QP and registered buffers of a
// connection and posts every receive. On failure it sets *step, frees what it made and
// returns an errno value.
int wsk_setup(struct rdma_cm_id *id, struct wsk_res *r, int count, int size, const char **step) {
	int err;
	memset(r, 0, sizeof *r);
	r->count = count;
	r->size = size;
#define FAIL(s) do { *step = s; err = errno ? errno : EIO; goto fail; } while (0)
	errno = 0;
	if (!(r->pd = ibv_alloc_pd(id->verbs))) FAIL("ibv_alloc_pd");
	if (!(r->cc = ibv_create_comp_channel(id->verbs))) FAIL("ibv_create_comp_channel");
	if (wsk_nonblock(r->cc->fd) != 0) FAIL("fcntl O_NONBLOCK");
	if (!(r->cq = ibv_create_cq(id->verbs, 2 * count + 2, NULL, r->cc, 0))) FAIL("ibv_create_cq");
	if ((err = ibv_req_notify_cq(r->cq, 0)) != 0) { *step = "ibv_req_notify_cq"; goto fail; }
	struct ibv_qp_init_attr qa = {
		.send_cq = r->cq, .recv_cq = r->cq, .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = count, .max_recv_wr = count, .max_send_sge = 1, .max_recv_sge = 1 },
	};
	if (rdma_create_qp(id, r->pd, &qa) != 0) FAIL("rdma_create_qp");
	r->qp = 1;
	if (!(r->sbuf = malloc((size_t)count * size)) || !(r->rbuf = malloc((size_t)count * size))) FAIL("malloc");
	if (!(r->smr = ibv_reg_mr(r->pd, r->sbuf, (size_t)count * size, IBV_ACCESS_LOCAL_WRITE))) FAIL("ibv_reg_mr");
	if (!(r->rmr = ibv_reg_mr(r->pd, r->rbuf, (size_t)count * size, IBV_ACCESS_LOCAL_WRITE))) FAIL("ibv_reg_mr");
	for (int i = 0; i < count; i++) {
		if ((err = wsk_post_recv(id, r, i)) != 0) { *step = "ibv_post_recv"; goto fail; }
	}
	return 0;
#undef FAIL
fail:
	wsk_teardown(id, r);
	return err;
}


// wsk_cq_event takes a completion-channel event (non-blocking), acks it and re-arms the
// CQ. Returns 1, 0 when there is none, or -errno.
int wsk_cq_event(struct wsk_res *r) {
	struct ibv_cq *cq;
	void *ctx;
	if (ibv_get_cq_event(r->cc, &cq, &ctx) != 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	ibv_ack_cq_events(cq, 1);
	int err = ibv_req_notify_cq(cq, 0);
	return err ? -err : 1;
}

// wsk_poll copies up to n completions into out; returns how many or -errno.
int wsk_poll(struct wsk_res *r, struct wsk_wc *out, int n) {
	struct ibv_wc wc[32];
	if (n > 32) n = 32;
	int got = ibv_poll_cq(r->cq, n, wc);
	if (got < 0) return -EIO;
	for (int i = 0; i < got; i++) {
		out[i].wr_id = wc[i].wr_id;
		out[i].status = wc[i].status;
		out[i].byte_len = wc[i].byte_len;
	}
	return got;
}

int wsk_connect(struct rdma_cm_id *id, const void *priv, int len) {
	struct rdma_conn_param p = { .private_data = priv, .private_data_len = len,
		.responder_resources = 1, .initiator_depth = 1, .retry_count = 7, .rnr_retry_count = 3 };
	return rdma_connect(id, &p);
}

int wsk_accept(struct rdma_cm_id *id, const void *priv, int len) {
	struct rdma_conn_param p = { .private_data = priv, .private_data_len = len,
		.responder_resources = 1, .initiator_depth = 1, .rnr_retry_count = 3 };
	return rdma_accept(id, &p);
}

int wsk_channel_fd(struct rdma_event_channel *ch) { return ch->fd; }
int wsk_comp_fd(struct wsk_res *r) { return r->cc->fd; }
struct sockaddr *wsk_local(struct rdma_cm_id *id) { return rdma_get_local_addr(id); }
struct sockaddr *wsk_peer(struct rdma_cm_id *id) { return rdma_get_peer_addr(id); }
