/*
 * rudp's optional native UDP datapath (Linux): one non-blocking UDP socket
 * polled by libuv, read with recvmmsg (and UDP GRO where the kernel offers
 * it) and written with sendmmsg (and UDP GSO for runs of equal-sized
 * datagrams to one peer). Each read batch reaches JavaScript as ONE call with
 * one buffer and a table of (offset, length, source) entries; each flush of
 * the driver leaves in one call. node:dgram makes a JS call, a Buffer and an
 * rinfo object per datagram, and a syscall per send.
 *
 * The JavaScript side is src/runtime/native-udp.ts; errors are returned as
 * negative errno values and turned into node-style errors there.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define RECV_BATCH 64
#define RECV_SLOT 65536
#define RECV_ROUNDS 4
#define META_STRIDE 8
#define META_ENTRIES (RECV_BATCH * 64)
#define SEND_MSGS 64
#define SEND_IOVS 1024
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000
#define CHUNK_BYTES 65536
/* Room for a numeric host, an IPv6 one with a %scope included. */
#define HOST_MAX (INET6_ADDRSTRLEN + 64)

/* Per-thread (per napi_env) scratch, shared by that thread's sockets: callbacks run one at a time. */
typedef struct {
  uint8_t *scratch;
  struct mmsghdr rmsgs[RECV_BATCH];
  struct iovec riov[RECV_BATCH];
  struct sockaddr_storage raddr[RECV_BATCH];
  char rctrl[RECV_BATCH][CMSG_SPACE(sizeof(int))];
  struct mmsghdr smsgs[SEND_MSGS];
  struct iovec siov[SEND_IOVS];
  struct sockaddr_storage saddr[SEND_MSGS];
  char sctrl[SEND_MSGS][CMSG_SPACE(sizeof(uint16_t))];
} scratch_t;

typedef struct {
  uv_poll_t poll;
  napi_env env;
  scratch_t *scratch;
  int fd;
  int family;
  int connected;
  int gso;
  int gro;
  int events;
  int polling;
  int closed;
  int js_dead;
  napi_ref on_batch;
  napi_ref on_writable;
  napi_ref on_error;
  napi_ref meta_ref;
  int32_t *meta;
  napi_async_context async;
  /* The last destination parsed, so a flow's sends parse its address once. */
  char last_host[HOST_MAX];
  int last_port;
  struct sockaddr_storage last_addr;
  socklen_t last_len;
} sock_t;

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) return NULL;                                                            \
  } while (0)

/* Declares argc/argv and fetches up to n arguments of the call (missing ones are undefined). */
#define ARGS(n)                                                                                    \
  size_t argc = (n);                                                                               \
  napi_value argv[(n)];                                                                            \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL))

static napi_value make_int(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

static void free_scratch(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  scratch_t *s = data;
  free(s->scratch);
  free(s);
}

static scratch_t *get_scratch(napi_env env) {
  scratch_t *s = NULL;
  if (napi_get_instance_data(env, (void **)&s) == napi_ok && s) return s;
  s = calloc(1, sizeof(scratch_t));
  if (!s) return NULL;
  s->scratch = malloc((size_t)RECV_BATCH * RECV_SLOT);
  if (!s->scratch) {
    free(s);
    return NULL;
  }
  napi_set_instance_data(env, s, free_scratch, NULL);
  return s;
}

static sock_t *get_sock(napi_env env, napi_value v) {
  sock_t *s = NULL;
  if (napi_get_value_external(env, v, (void **)&s) != napi_ok) return NULL;
  return s;
}

static void on_handle_closed(uv_handle_t *h) {
  sock_t *s = h->data;
  s->polling = 0;
  if (s->js_dead) free(s);
}

/* The external is collected only after close(): until then the callbacks it holds keep it reachable. */
static void finalize_sock(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sock_t *s = data;
  s->js_dead = 1;
  if (!s->closed) close(s->fd);
  if (!s->polling) free(s);
}

/* Parses host:port into a sockaddr for this socket's family (IPv4 becomes v4-mapped on IPv6). */
static int parse_addr(sock_t *s, const char *host, int port, struct sockaddr_storage *out, socklen_t *len) {
  memset(out, 0, sizeof(*out));
  if (s->family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return -EINVAL;
    *len = sizeof(*a);
    return 0;
  }
  struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
  a->sin6_family = AF_INET6;
  a->sin6_port = htons((uint16_t)port);
  if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) {
    if (strchr(host, '%')) {
      /* A scoped address (fe80::1%eth0): the numeric resolver fills in the scope id. */
      struct addrinfo hints, *res = NULL;
      memset(&hints, 0, sizeof(hints));
      hints.ai_family = AF_INET6;
      hints.ai_socktype = SOCK_DGRAM;
      hints.ai_flags = AI_NUMERICHOST;
      if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) return -EINVAL;
      const struct sockaddr_in6 *r = (const struct sockaddr_in6 *)res->ai_addr;
      a->sin6_addr = r->sin6_addr;
      a->sin6_scope_id = r->sin6_scope_id;
      freeaddrinfo(res);
      *len = sizeof(*a);
      return 0;
    }
    struct in_addr v4;
    if (inet_pton(AF_INET, host, &v4) != 1) return -EINVAL;
    a->sin6_addr.s6_addr[10] = 0xff;
    a->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&a->sin6_addr.s6_addr[12], &v4, 4);
  }
  *len = sizeof(*a);
  return 0;
}

static int get_host_port(napi_env env, napi_value host_v, napi_value port_v, char *host, int *port) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, host_v, host, HOST_MAX, &n) != napi_ok) return -EINVAL;
  if (napi_get_value_int32(env, port_v, port) != napi_ok) return -EINVAL;
  return 0;
}

/* open(family 4|6, ipv6Only, recvBufferSize, sendBufferSize, meta Int32Array, onBatch, onWritable, onError, offloads) */
static napi_value Open(napi_env env, napi_callback_info info) {
  ARGS(9);
  int fam = 4, v6only = 0, rcvbuf = 0, sndbuf = 0;
  bool flag = false;
  napi_get_value_int32(env, argv[0], &fam);
  if (napi_get_value_bool(env, argv[1], &flag) == napi_ok) v6only = flag;
  napi_get_value_int32(env, argv[2], &rcvbuf);
  napi_get_value_int32(env, argv[3], &sndbuf);
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_typedarray_info(env, argv[4], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_int32_array || length < (size_t)META_ENTRIES * META_STRIDE)
    return make_int(env, -EINVAL);
  scratch_t *scratch = get_scratch(env);
  if (!scratch) return make_int(env, -ENOMEM);

  int family = fam == 6 ? AF_INET6 : AF_INET;
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_int(env, -errno);
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0) {
    int e = errno;
    close(fd);
    return make_int(env, -e);
  }
  if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0) {
    int e = errno;
    close(fd);
    return make_int(env, -e);
  }
  sock_t *s = calloc(1, sizeof(sock_t));
  if (!s) {
    close(fd);
    return make_int(env, -ENOMEM);
  }
  s->env = env;
  s->scratch = scratch;
  s->fd = fd;
  s->family = family;
  bool offloads = true;
  if (argc > 8) napi_get_value_bool(env, argv[8], &offloads);
  s->gso = offloads;
  s->gro = offloads; /* turned on in start(), and only there (see SetGso) */
  s->meta = data;
  s->poll.data = s;
  napi_create_reference(env, argv[4], 1, &s->meta_ref);
  napi_create_reference(env, argv[5], 1, &s->on_batch);
  napi_create_reference(env, argv[6], 1, &s->on_writable);
  napi_create_reference(env, argv[7], 1, &s->on_error);
  napi_value name, resource;
  napi_create_string_utf8(env, "rudp:udp", NAPI_AUTO_LENGTH, &name);
  napi_create_object(env, &resource);
  napi_async_init(env, resource, name, &s->async);
  napi_value ext;
  CHECK(napi_create_external(env, s, finalize_sock, NULL, &ext));
  return ext;
}

/* Binds (connect 0) or connects (connect 1) the socket to (host, port) from JS → 0 | -errno. */
static napi_value attach_address(napi_env env, napi_callback_info info, int connect_it) {
  ARGS(3);
  sock_t *s = get_sock(env, argv[0]);
  char host[HOST_MAX];
  int port;
  if (!s || s->closed || get_host_port(env, argv[1], argv[2], host, &port) < 0) return make_int(env, -EINVAL);
  struct sockaddr_storage a;
  socklen_t len;
  if (parse_addr(s, host, port, &a, &len) < 0) return make_int(env, -EINVAL);
  int r = connect_it ? connect(s->fd, (struct sockaddr *)&a, len) : bind(s->fd, (struct sockaddr *)&a, len);
  if (r < 0) return make_int(env, -errno);
  if (connect_it) s->connected = 1;
  return make_int(env, 0);
}

/* bind(sock, host, port) → 0 | -errno */
static napi_value Bind(napi_env env, napi_callback_info info) { return attach_address(env, info, 0); }

/* connect(sock, host, port) → 0 | -errno */
static napi_value Connect(napi_env env, napi_callback_info info) { return attach_address(env, info, 1); }

static napi_value address_value(napi_env env, const struct sockaddr_storage *a) {
  char host[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;
    inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
    port = ntohs(v4->sin_port);
  } else {
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;
    inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
    port = ntohs(v6->sin6_port);
  }
  napi_value out, h, p;
  napi_create_array_with_length(env, 2, &out);
  napi_create_string_utf8(env, host, NAPI_AUTO_LENGTH, &h);
  napi_create_int32(env, port, &p);
  napi_set_element(env, out, 0, h);
  napi_set_element(env, out, 1, p);
  return out;
}

/* localAddress(sock) → [host, port] | -errno */
static napi_value LocalAddress(napi_env env, napi_callback_info info) {
  ARGS(1);
  sock_t *s = get_sock(env, argv[0]);
  if (!s || s->closed) return make_int(env, -EBADF);
  struct sockaddr_storage a;
  socklen_t len = sizeof(a);
  if (getsockname(s->fd, (struct sockaddr *)&a, &len) < 0) return make_int(env, -errno);
  return address_value(env, &a);
}

/* formatAddress(meta, entry) → [host, port]: the source of one received datagram. */
static napi_value FormatAddress(napi_env env, napi_callback_info info) {
  ARGS(2);
  napi_typedarray_type type;
  size_t length;
  void *data;
  int entry = 0;
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL));
  napi_get_value_int32(env, argv[1], &entry);
  if (type != napi_int32_array || entry < 0 || (size_t)(entry + 1) * META_STRIDE > length) return make_int(env, -EINVAL);
  const int32_t *m = (const int32_t *)data + (size_t)entry * META_STRIDE;
  struct sockaddr_storage a;
  memset(&a, 0, sizeof(a));
  if (m[3] == 4) {
    struct sockaddr_in *v4 = (struct sockaddr_in *)&a;
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)m[2]);
    memcpy(&v4->sin_addr, &m[4], 4);
  } else {
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)m[2]);
    memcpy(&v6->sin6_addr, &m[4], 16);
  }
  return address_value(env, &a);
}

/* Buffer sizes as the kernel accounts them: [receive, send]. */
static napi_value BufferSizes(napi_env env, napi_callback_info info) {
  ARGS(1);
  sock_t *s = get_sock(env, argv[0]);
  if (!s || s->closed) return make_int(env, -EBADF);
  int r = 0, w = 0;
  socklen_t len = sizeof(int);
  getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &r, &len);
  len = sizeof(int);
  getsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &w, &len);
  napi_value out;
  napi_create_array_with_length(env, 2, &out);
  napi_set_element(env, out, 0, make_int(env, r));
  napi_set_element(env, out, 1, make_int(env, w));
  return out;
}

static void call_js(sock_t *s, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = s->env;
  napi_value fn, recv;
  napi_get_reference_value(env, fn_ref, &fn);
  napi_get_global(env, &recv);
  napi_status st = napi_make_callback(env, s->async, recv, fn, argc, argv, NULL);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

/* Tells JS about a socket error; callable from libuv callbacks (it opens its own handle scope). */
static void report_error(sock_t *s, int err, const char *syscall) {
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[2];
  argv[0] = make_int(env, -err);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &argv[1]);
  call_js(s, s->on_error, 2, argv);
  napi_close_handle_scope(env, scope);
}

static void on_poll(uv_poll_t *h, int status, int events);

static void set_poll(sock_t *s, int events) {
  if (s->closed || events == s->events) return;
  s->events = events;
  uv_poll_start(&s->poll, events, on_poll);
}

/* The datagrams in one read message: more than one when the kernel coalesced a run (GRO). */
static int segments_of(sock_t *s, int i, unsigned *seg) {
  scratch_t *sc = s->scratch;
  unsigned len = sc->rmsgs[i].msg_len;
  int size = 0;
  struct msghdr *mh = &sc->rmsgs[i].msg_hdr;
  if (mh->msg_controllen > 0)
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) memcpy(&size, CMSG_DATA(c), sizeof(int));
  if (size <= 0 || (unsigned)size >= len) {
    *seg = len;
    return 1;
  }
  *seg = (unsigned)size;
  return (int)((len + (unsigned)size - 1) / (unsigned)size);
}

/*
 * Hands messages [first, end) of the scratch to JS as one chunk: one new Buffer
 * holding them back to back, and one meta entry per datagram.
 */
static void deliver_chunk(sock_t *s, int first, int end) {
  scratch_t *sc = s->scratch;
  napi_env env = s->env;
  size_t total = 0;
  for (int i = first; i < end; i++) total += sc->rmsgs[i].msg_len;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value buf;
  void *dst = NULL;
  if (napi_create_buffer(env, total, &dst, &buf) != napi_ok) {
    napi_close_handle_scope(env, scope);
    return;
  }
  size_t off = 0;
  int entries = 0;
  for (int i = first; i < end; i++) {
    unsigned len = sc->rmsgs[i].msg_len, seg;
    int count = segments_of(s, i, &seg);
    memcpy((uint8_t *)dst + off, sc->riov[i].iov_base, len);
    const struct sockaddr_storage *a = &sc->raddr[i];
    for (int k = 0; k < count; k++) {
      unsigned at = (unsigned)k * seg;
      int32_t *m = s->meta + (size_t)entries * META_STRIDE;
      m[0] = (int32_t)(off + at);
      m[1] = (int32_t)(len - at < seg ? len - at : seg);
      if (a->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;
        m[2] = ntohs(v4->sin_port);
        m[3] = 4;
        memcpy(&m[4], &v4->sin_addr, 4);
        m[5] = m[6] = m[7] = 0;
      } else {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)a;
        m[2] = ntohs(v6->sin6_port);
        m[3] = 6;
        memcpy(&m[4], &v6->sin6_addr, 16);
      }
      entries++;
    }
    off += len;
  }
  napi_value argv[2] = {buf, make_int(env, entries)};
  call_js(s, s->on_batch, 2, argv);
  napi_close_handle_scope(env, scope);
}

/*
 * Reads what is queued (up to RECV_ROUNDS batches of RECV_BATCH messages) and
 * hands it to JS in chunks of at most CHUNK_BYTES (a view JS keeps pins one
 * chunk, no more than one 64 KB datagram would) and META_ENTRIES datagrams.
 */
static void read_batches(sock_t *s) {
  scratch_t *sc = s->scratch;
  for (int round = 0; round < RECV_ROUNDS && !s->closed; round++) {
    for (int i = 0; i < RECV_BATCH; i++) {
      sc->riov[i].iov_base = sc->scratch + (size_t)i * RECV_SLOT;
      sc->riov[i].iov_len = RECV_SLOT;
      struct msghdr *m = &sc->rmsgs[i].msg_hdr;
      m->msg_name = &sc->raddr[i];
      m->msg_namelen = sizeof(sc->raddr[i]);
      m->msg_iov = &sc->riov[i];
      m->msg_iovlen = 1;
      m->msg_control = s->gro ? sc->rctrl[i] : NULL;
      m->msg_controllen = s->gro ? sizeof(sc->rctrl[i]) : 0;
      m->msg_flags = 0;
    }
    int n = recvmmsg(s->fd, sc->rmsgs, RECV_BATCH, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) report_error(s, errno, "recvmsg");
      return;
    }
    int first = 0, entries = 0;
    size_t bytes = 0;
    for (int i = 0; i < n && !s->closed; i++) {
      unsigned seg;
      int count = segments_of(s, i, &seg);
      unsigned len = sc->rmsgs[i].msg_len;
      if (i > first && (entries + count > META_ENTRIES || bytes + len > CHUNK_BYTES)) {
        deliver_chunk(s, first, i);
        first = i;
        entries = 0;
        bytes = 0;
      }
      entries += count;
      bytes += len;
    }
    if (n > first && !s->closed) deliver_chunk(s, first, n);
    if (n < RECV_BATCH) return;
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  sock_t *s = h->data;
  if (s->closed) return;
  if (status < 0) {
    /*
     * libuv reports POLLERR as EBADF and stops polling. The real error is the socket's pending one
     * (ECONNREFUSED after an ICMP port unreachable on a connected socket), or none when a send or a
     * read already took it; either way the socket goes on, so polling is restarted.
     */
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    int wanted = s->events ? s->events : UV_READABLE;
    s->events = 0;
    set_poll(s, wanted);
    if (err != 0) report_error(s, err, "recvmsg");
    return;
  }
  if (events & UV_WRITABLE) {
    set_poll(s, UV_READABLE);
    napi_handle_scope scope;
    napi_open_handle_scope(s->env, &scope);
    call_js(s, s->on_writable, 0, NULL);
    napi_close_handle_scope(s->env, scope);
  }
  if ((events & UV_READABLE) && !s->closed) read_batches(s);
}

/* start(sock) → 0 | -errno: begins reading (and turns GRO on where the kernel has it). */
static napi_value Start(napi_env env, napi_callback_info info) {
  ARGS(1);
  sock_t *s = get_sock(env, argv[0]);
  if (!s || s->closed) return make_int(env, -EBADF);
  if (s->polling) return make_int(env, 0);
  int on = 1;
  if (s->gro) s->gro = setsockopt(s->fd, SOL_UDP, UDP_GRO, &on, sizeof(on)) == 0;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return make_int(env, -EINVAL);
  int r = uv_poll_init_socket(loop, &s->poll, s->fd);
  if (r < 0) return make_int(env, r);
  s->poll.data = s;
  s->polling = 1;
  s->events = 0;
  set_poll(s, UV_READABLE);
  return make_int(env, 0);
}

/*
 * send(sock, datagrams[], count, hosts[] | null, ports Int32Array | null, status Int32Array)
 * → how many datagrams were consumed (sent, or dropped on an error other than EAGAIN).
 * On EAGAIN the rest is left to the caller and onWritable fires when there is room again.
 * status[0] receives the errno of the last send error (0 when none), status[1] the datagrams it dropped.
 */
static napi_value Send(napi_env env, napi_callback_info info) {
  ARGS(6);
  sock_t *s = get_sock(env, argv[0]);
  int count = 0;
  napi_get_value_int32(env, argv[2], &count);
  napi_valuetype hosts_type;
  napi_typeof(env, argv[3], &hosts_type);
  int addressed = hosts_type == napi_object;
  int32_t *ports = NULL;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (addressed) {
    CHECK(napi_get_typedarray_info(env, argv[4], &type, &length, &data, NULL, NULL));
    if (type != napi_int32_array || length < (size_t)count) return make_int(env, -EINVAL);
    ports = data;
  }
  CHECK(napi_get_typedarray_info(env, argv[5], &type, &length, &data, NULL, NULL));
  if (type != napi_int32_array || length < 2) return make_int(env, -EINVAL);
  int32_t *status = data;
  status[0] = 0;
  status[1] = 0;
  if (!s || s->closed) return make_int(env, count);
  scratch_t *sc = s->scratch;
  int gso = s->gso;
  int first_of[SEND_MSGS], count_of[SEND_MSGS];
  size_t bytes_of[SEND_MSGS];

  int done = 0;
  while (done < count) {
    /* Up to SEND_MSGS messages, each one datagram or a GSO run of equal-sized ones to one peer. */
    int msgs = 0, iovs = 0, next = done;
    while (next < count && msgs < SEND_MSGS && iovs < SEND_IOVS) {
      napi_value v;
      CHECK(napi_get_element(env, argv[1], (uint32_t)next, &v));
      CHECK(napi_get_typedarray_info(env, v, &type, &length, &data, NULL, NULL));
      int same_dest = 1;
      if (addressed) {
        napi_value hv;
        char host[HOST_MAX];
        size_t hn = 0;
        CHECK(napi_get_element(env, argv[3], (uint32_t)next, &hv));
        if (napi_get_value_string_utf8(env, hv, host, sizeof(host), &hn) != napi_ok) host[0] = 0;
        if (ports[next] != s->last_port || strcmp(host, s->last_host) != 0) {
          same_dest = 0;
          if (parse_addr(s, host, ports[next], &s->last_addr, &s->last_len) < 0) {
            s->last_host[0] = 0;
            status[0] = EINVAL;
            status[1]++;
            next++;
            continue;
          }
          memcpy(s->last_host, host, hn + 1);
          s->last_port = ports[next];
        }
      }
      if (msgs > 0 && gso && same_dest) {
        struct msghdr *m = &sc->smsgs[msgs - 1].msg_hdr;
        size_t seg = m->msg_iov[0].iov_len;
        size_t last = sc->siov[iovs - 1].iov_len;
        if (length > 0 && length <= seg && last == seg && m->msg_iovlen < GSO_MAX_SEGMENTS &&
            bytes_of[msgs - 1] + length <= GSO_MAX_BYTES) {
          sc->siov[iovs].iov_base = data;
          sc->siov[iovs].iov_len = length;
          iovs++;
          m->msg_iovlen++;
          count_of[msgs - 1]++;
          bytes_of[msgs - 1] += length;
          next++;
          continue;
        }
      }
      struct msghdr *m = &sc->smsgs[msgs].msg_hdr;
      memset(m, 0, sizeof(*m));
      if (addressed) {
        memcpy(&sc->saddr[msgs], &s->last_addr, s->last_len);
        m->msg_name = &sc->saddr[msgs];
        m->msg_namelen = s->last_len;
      }
      sc->siov[iovs].iov_base = data;
      sc->siov[iovs].iov_len = length;
      m->msg_iov = &sc->siov[iovs];
      m->msg_iovlen = 1;
      first_of[msgs] = next;
      count_of[msgs] = 1;
      bytes_of[msgs] = length;
      iovs++;
      msgs++;
      next++;
    }
    for (int k = 0; k < msgs; k++) {
      struct msghdr *m = &sc->smsgs[k].msg_hdr;
      if (m->msg_iovlen < 2) continue;
      m->msg_control = sc->sctrl[k];
      m->msg_controllen = sizeof(sc->sctrl[k]);
      struct cmsghdr *c = CMSG_FIRSTHDR(m);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t seg = (uint16_t)m->msg_iov[0].iov_len;
      memcpy(CMSG_DATA(c), &seg, sizeof(seg));
    }
    int k = 0, retry_from = -1;
    while (k < msgs) {
      int r = sendmmsg(s->fd, &sc->smsgs[k], (unsigned)(msgs - k), 0);
      if (r > 0) {
        k += r;
        continue;
      }
      int e = r < 0 ? errno : EAGAIN;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK) {
        set_poll(s, UV_READABLE | UV_WRITABLE);
        return make_int(env, first_of[k]);
      }
      if (sc->smsgs[k].msg_hdr.msg_iovlen > 1 &&
          (e == EIO || e == EINVAL || e == ENOPROTOOPT || e == EOPNOTSUPP || e == EMSGSIZE)) {
        /* The kernel or the device refuses this run: resend it (and the rest) one datagram each. */
        gso = 0;
        if (e != EMSGSIZE) s->gso = 0;
        retry_from = first_of[k];
        break;
      }
      status[0] = e;
      status[1] += count_of[k];
      k++;
    }
    done = retry_from >= 0 ? retry_from : next;
  }
  return make_int(env, done);
}

/* close(sock): stops polling and closes the descriptor; the memory goes once libuv and JS let go. */
static napi_value Close(napi_env env, napi_callback_info info) {
  ARGS(1);
  sock_t *s = get_sock(env, argv[0]);
  if (!s || s->closed) return NULL;
  s->closed = 1;
  napi_delete_reference(env, s->on_batch);
  napi_delete_reference(env, s->on_writable);
  napi_delete_reference(env, s->on_error);
  napi_delete_reference(env, s->meta_ref);
  napi_async_destroy(env, s->async);
  s->meta = NULL;
  if (s->polling) {
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
  }
  close(s->fd);
  return NULL;
}

/* ref(sock, on): whether the socket keeps the event loop alive. */
static napi_value Ref(napi_env env, napi_callback_info info) {
  ARGS(2);
  sock_t *s = get_sock(env, argv[0]);
  bool on = true;
  napi_get_value_bool(env, argv[1], &on);
  if (!s || s->closed || !s->polling) return NULL;
  if (on)
    uv_ref((uv_handle_t *)&s->poll);
  else
    uv_unref((uv_handle_t *)&s->poll);
  return NULL;
}

/* Which offloads the socket uses: [gso, gro] as 0/1. */
static napi_value Offloads(napi_env env, napi_callback_info info) {
  ARGS(1);
  sock_t *s = get_sock(env, argv[0]);
  napi_value out;
  napi_create_array_with_length(env, 2, &out);
  napi_set_element(env, out, 0, make_int(env, s ? s->gso : 0));
  napi_set_element(env, out, 1, make_int(env, s ? s->gro : 0));
  return out;
}

/*
 * setGso(sock, on): turns GSO on sends off or back on. GRO is chosen once, at open: after turning it
 * off the kernel no longer says where a run it had already coalesced splits, and would hand it over
 * as one datagram.
 */
static napi_value SetGso(napi_env env, napi_callback_info info) {
  ARGS(2);
  sock_t *s = get_sock(env, argv[0]);
  bool gso = false;
  napi_get_value_bool(env, argv[1], &gso);
  if (s && !s->closed) s->gso = gso;
  return NULL;
}

/*
 * CRC-32 (IEEE 802.3, reflected, as zlib) by carry-less multiplication: the
 * folding method of Gopal et al., "Fast CRC Computation for Generic
 * Polynomials Using PCLMULQDQ Instruction" (Intel, 2009). Four 128-bit lanes
 * fold 64 bytes per step, then one lane 16 bytes per step, then a Barrett
 * reduction to 32 bits; what is left (< 16 bytes) goes through a table.
 * zlib as Node exports it runs at about 4 GB/s here; this at about 20.
 */
static uint32_t crc_table[256];

static void crc_table_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    crc_table[i] = c;
  }
}

/* `crc` is the running register (already inverted), as in zlib's internals. */
static uint32_t crc_bytes(uint32_t crc, const uint8_t *p, size_t n) {
  while (n--) crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("pclmul,sse4.1"))) static uint32_t crc_fold(uint32_t crc, const uint8_t *p, size_t n) {
  /* x^(4·128+64), x^(4·128) mod P; x^(128+64), x^128 mod P; x^64 mod P; then P and floor(x^64 / P), bit-reflected. */
  const __m128i fold4 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
  const __m128i fold1 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
  const __m128i fold64 = _mm_set_epi64x(0, 0x0163cd6124);
  const __m128i barrett = _mm_set_epi64x(0x01f7011641, 0x01db710641);
  const __m128i low32 = _mm_setr_epi32(-1, 0, -1, 0);
  __m128i lane[4];
  for (int i = 0; i < 4; i++) lane[i] = _mm_loadu_si128((const __m128i *)(p + 16 * i));
  lane[0] = _mm_xor_si128(lane[0], _mm_cvtsi32_si128((int)crc));
  p += 64;
  n -= 64;
  while (n >= 64) {
    for (int i = 0; i < 4; i++) {
      __m128i lo = _mm_clmulepi64_si128(lane[i], fold4, 0x00);
      __m128i hi = _mm_clmulepi64_si128(lane[i], fold4, 0x11);
      lane[i] = _mm_xor_si128(_mm_xor_si128(lo, hi), _mm_loadu_si128((const __m128i *)(p + 16 * i)));
    }
    p += 64;
    n -= 64;
  }
  __m128i x = lane[0];
  for (int i = 1; i < 4; i++) {
    __m128i lo = _mm_clmulepi64_si128(x, fold1, 0x00);
    __m128i hi = _mm_clmulepi64_si128(x, fold1, 0x11);
    x = _mm_xor_si128(_mm_xor_si128(lo, hi), lane[i]);
  }
  while (n >= 16) {
    __m128i lo = _mm_clmulepi64_si128(x, fold1, 0x00);
    __m128i hi = _mm_clmulepi64_si128(x, fold1, 0x11);
    x = _mm_xor_si128(_mm_xor_si128(lo, hi), _mm_loadu_si128((const __m128i *)p));
    p += 16;
    n -= 16;
  }
  /* 128 → 64 bits. */
  __m128i t = _mm_clmulepi64_si128(x, fold1, 0x10);
  x = _mm_xor_si128(_mm_srli_si128(x, 8), t);
  t = _mm_srli_si128(x, 4);
  x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, low32), fold64, 0x00), t);
  /* Barrett reduction 64 → 32 bits. */
  t = _mm_clmulepi64_si128(_mm_and_si128(x, low32), barrett, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), barrett, 0x00);
  x = _mm_xor_si128(x, t);
  crc = (uint32_t)_mm_extract_epi32(x, 1);
  return crc_bytes(crc, p, n);
}
#endif

static int crc_simd;

static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
  uint32_t crc = 0xffffffffu;
#if defined(__x86_64__)
  if (crc_simd && n >= 64) return ~crc_fold(crc, p, n);
#endif
  return ~crc_bytes(crc, p, n);
}

/* crc32(data, start, end) → CRC-32 of data[start, end) (the value zlib.crc32 gives), without a subarray. */
static napi_value Crc32(napi_env env, napi_callback_info info) {
  ARGS(3);
  napi_typedarray_type type;
  size_t length;
  void *data;
  uint32_t start = 0, end = 0;
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL));
  napi_get_value_uint32(env, argv[1], &start);
  napi_get_value_uint32(env, argv[2], &end);
  if (type != napi_uint8_array || end > length || start > end) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "crc32: the range is outside the array");
    return NULL;
  }
  napi_value out;
  napi_create_uint32(env, crc32_ieee((const uint8_t *)data + start, end - start), &out);
  return out;
}

/* Which CRC-32 implementation runs: "pclmul" or "table". */
static napi_value Crc32Kind(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_create_string_utf8(env, crc_simd ? "pclmul" : "table", NAPI_AUTO_LENGTH, &out);
  return out;
}

/*
 * AEAD seal/open for encrypted connections through the OpenSSL that Node itself
 * links (its EVP interface, exported by the node binary): the same ciphers as
 * node:crypto, without a Cipheriv object per datagram. One context per
 * algorithm and thread, re-keyed for every call.
 */
#define AEAD_TAG 16

static EVP_CIPHER_CTX *aead_ctx[2];

static const EVP_CIPHER *aead_cipher(int alg) { return alg == 0 ? EVP_chacha20_poly1305() : EVP_aes_256_gcm(); }

static EVP_CIPHER_CTX *aead_context(int alg) {
  if (!aead_ctx[alg]) {
    aead_ctx[alg] = EVP_CIPHER_CTX_new();
    if (aead_ctx[alg] && EVP_CipherInit_ex(aead_ctx[alg], aead_cipher(alg), NULL, NULL, NULL, 1) != 1) {
      EVP_CIPHER_CTX_free(aead_ctx[alg]);
      aead_ctx[alg] = NULL;
    }
  }
  return aead_ctx[alg];
}

typedef struct {
  uint8_t *data;
  size_t length;
} bytes_t;

static int get_bytes(napi_env env, napi_value v, bytes_t *out) {
  napi_typedarray_type type;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, &out->length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array)
    return -1;
  out->data = data;
  return 0;
}

/*
 * aeadSeal(alg 0=chacha20-poly1305 | 1=aes-256-gcm, key, nonce, aad, plaintext, out, outOffset)
 * → bytes written (plaintext + 16-byte tag), or -1. `out` may not overlap `plaintext` unless at the same place.
 */
static napi_value AeadSeal(napi_env env, napi_callback_info info) {
  ARGS(7);
  int alg = 0;
  uint32_t off = 0;
  bytes_t key, nonce, aad, text, out;
  napi_get_value_int32(env, argv[0], &alg);
  napi_get_value_uint32(env, argv[6], &off);
  if ((alg != 0 && alg != 1) || get_bytes(env, argv[1], &key) || get_bytes(env, argv[2], &nonce) ||
      get_bytes(env, argv[3], &aad) || get_bytes(env, argv[4], &text) || get_bytes(env, argv[5], &out) ||
      key.length != 32 || nonce.length != 12 || text.length > INT32_MAX - AEAD_TAG ||
      (size_t)off + text.length + AEAD_TAG > out.length)
    return make_int(env, -1);
  EVP_CIPHER_CTX *ctx = aead_context(alg);
  int n = 0, fin = 0;
  uint8_t *dst = out.data + off;
  if (!ctx || EVP_CipherInit_ex(ctx, NULL, NULL, key.data, nonce.data, 1) != 1 ||
      (aad.length > 0 && EVP_CipherUpdate(ctx, NULL, &n, aad.data, (int)aad.length) != 1) ||
      EVP_CipherUpdate(ctx, dst, &n, text.data, (int)text.length) != 1 || EVP_CipherFinal_ex(ctx, dst + n, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG, dst + text.length) != 1)
    return make_int(env, -1);
  return make_int(env, (int64_t)text.length + AEAD_TAG);
}

/* aeadOpen(alg, key, nonce, aad, sealed, out) → plaintext bytes written into out, or -1 (forged, corrupt, bad sizes). */
static napi_value AeadOpen(napi_env env, napi_callback_info info) {
  ARGS(6);
  int alg = 0;
  bytes_t key, nonce, aad, sealed, out;
  napi_get_value_int32(env, argv[0], &alg);
  if ((alg != 0 && alg != 1) || get_bytes(env, argv[1], &key) || get_bytes(env, argv[2], &nonce) ||
      get_bytes(env, argv[3], &aad) || get_bytes(env, argv[4], &sealed) || get_bytes(env, argv[5], &out) ||
      key.length != 32 || nonce.length != 12 || sealed.length < AEAD_TAG || sealed.length > INT32_MAX ||
      out.length < sealed.length - AEAD_TAG)
    return make_int(env, -1);
  size_t body = sealed.length - AEAD_TAG;
  uint8_t tag[AEAD_TAG];
  memcpy(tag, sealed.data + body, AEAD_TAG);
  EVP_CIPHER_CTX *ctx = aead_context(alg);
  int n = 0, fin = 0;
  if (!ctx || EVP_CipherInit_ex(ctx, NULL, NULL, key.data, nonce.data, 0) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG, tag) != 1 ||
      (aad.length > 0 && EVP_CipherUpdate(ctx, NULL, &n, aad.data, (int)aad.length) != 1) ||
      EVP_CipherUpdate(ctx, out.data, &n, sealed.data, (int)body) != 1 ||
      EVP_CipherFinal_ex(ctx, out.data + n, &fin) != 1)
    return make_int(env, -1);
  return make_int(env, (int64_t)body);
}

static napi_value Init(napi_env env, napi_value exports) {
  if (!crc_table[1]) {
    crc_table_init();
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_simd = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
  }
  napi_property_descriptor props[] = {
      {"open", NULL, Open, NULL, NULL, NULL, napi_default, NULL},
      {"bind", NULL, Bind, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, Connect, NULL, NULL, NULL, napi_default, NULL},
      {"localAddress", NULL, LocalAddress, NULL, NULL, NULL, napi_default, NULL},
      {"formatAddress", NULL, FormatAddress, NULL, NULL, NULL, napi_default, NULL},
      {"bufferSizes", NULL, BufferSizes, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, Start, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, Send, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"ref", NULL, Ref, NULL, NULL, NULL, napi_default, NULL},
      {"offloads", NULL, Offloads, NULL, NULL, NULL, napi_default, NULL},
      {"setGso", NULL, SetGso, NULL, NULL, NULL, napi_default, NULL},
      {"crc32", NULL, Crc32, NULL, NULL, NULL, napi_default, NULL},
      {"crc32Kind", NULL, Crc32Kind, NULL, NULL, NULL, napi_default, NULL},
      {"aeadSeal", NULL, AeadSeal, NULL, NULL, NULL, napi_default, NULL},
      {"aeadOpen", NULL, AeadOpen, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value metaEntries = make_int(env, META_ENTRIES), metaStride = make_int(env, META_STRIDE);
  napi_set_named_property(env, exports, "META_ENTRIES", metaEntries);
  napi_set_named_property(env, exports, "META_STRIDE", metaStride);
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
