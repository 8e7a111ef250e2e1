// rdma_shim.h: the C side of package rdma (built only with the rdma tag): small
// wrappers over libibverbs and librdmacm that Go calls through cgo.
#ifndef WSK_RDMA_SHIM_H
#define WSK_RDMA_SHIM_H

#include <stdint.h>
#include <sys/socket.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

// wsk_event is a copied, acked rdma_cm event.
struct wsk_event {
	int type;
	int status;
	struct rdma_cm_id *id;
	unsigned char priv[64];
	int priv_len;
};

// wsk_res is what a connection allocates beside its cm_id.
struct wsk_res {
	struct ibv_pd *pd;
	struct ibv_comp_channel *cc;
	struct ibv_cq *cq;
	int qp;
	char *sbuf, *rbuf;
	struct ibv_mr *smr, *rmr;
	int count, size;
};

// wsk_wc is the part of a work completion Go uses.
struct wsk_wc {
	uint64_t wr_id;
	int status;
	uint32_t byte_len;
};

int wsk_device_count(void);
int wsk_nonblock(int fd);
void wsk_sockaddr(struct sockaddr_storage *ss, const unsigned char *ip, int iplen, int port);
int wsk_addr(struct sockaddr *sa, unsigned char *ip, int *port);
int wsk_get_event(struct rdma_event_channel *ch, struct wsk_event *out);
void wsk_teardown(struct rdma_cm_id *id, struct wsk_res *r);
int wsk_post_recv(struct rdma_cm_id *id, struct wsk_res *r, int idx);
int wsk_post_send(struct rdma_cm_id *id, struct wsk_res *r, int idx, int len);
int wsk_setup(struct rdma_cm_id *id, struct wsk_res *r, int count, int size, const char **step);
int wsk_cq_event(struct wsk_res *r);
int wsk_poll(struct wsk_res *r, struct wsk_wc *out, int n);
int wsk_connect(struct rdma_cm_id *id, const void *priv, int len);
int wsk_accept(struct rdma_cm_id *id, const void *priv, int len);
int wsk_channel_fd(struct rdma_event_channel *ch);
int wsk_comp_fd(struct wsk_res *r);
struct sockaddr *wsk_local(struct rdma_cm_id *id);
struct sockaddr *wsk_peer(struct rdma_cm_id *id);

#endif
