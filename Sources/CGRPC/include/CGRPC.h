// CGRPC: a unary-call gRPC server over the gRPC C core (Debian's libgrpc-dev), in a handful of prefixed functions.
//
// Every symbol added here starts with `mcgrpc_`. Why a shim rather than calling the core from Swift: a call's life
// is several `grpc_call_start_batch` calls over `grpc_op` arrays (a union of structs), byte buffers of slices and
// metadata arrays whose memory must stay alive until the completion queue reports the batch done. Doing that
// bookkeeping here keeps the Swift side to "next call, its bytes, answer it". The shim holds no policy: which RPC
// does what, status codes and limits are decided in Swift (GRPCServer.swift, the only file importing this module).
// Its only statuses of its own end calls nobody will answer: UNAVAILABLE for those still arriving at a shutdown,
// DEADLINE_EXCEEDED at the receive timeout Swift sets (the core has no per-call receive timer on servers), and
// RESOURCE_EXHAUSTED for calls over the per-connection stream cap the core does not hold every client to.
// This header deliberately does not include <grpc/grpc.h>: Swift sees only the opaque types below.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A started server with its one completion queue. Opaque; `mcgrpc_server_start` creates it, `mcgrpc_server_destroy`
/// frees it.
typedef struct mcgrpc_server mcgrpc_server;
/// One incoming unary call: the call handle, its method, metadata and request message. Handed to Swift by
/// `mcgrpc_server_next` once its message has arrived; Swift must answer it exactly once with `mcgrpc_call_respond`,
/// after which the shim frees it when the answer has been sent.
typedef struct mcgrpc_call mcgrpc_call;

/// What `mcgrpc_server_next` returns.
typedef enum {
    /// Nothing happened before the timeout.
    MCGRPC_NEXT_TIMEOUT = 0,
    /// `*call` holds a call whose request message (or its absence) is known; answer it with `mcgrpc_call_respond`.
    MCGRPC_NEXT_CALL = 1,
    /// The shutdown started by `mcgrpc_server_shutdown` has completed: no call is left in the core.
    MCGRPC_NEXT_SERVER_SHUT_DOWN = 2,
    /// The queue was shut down (`mcgrpc_server_shutdown_queue`) and is empty: stop calling `mcgrpc_server_next`.
    MCGRPC_NEXT_QUEUE_SHUT_DOWN = 3,
} mcgrpc_next_result;

/// What a server accepts from its clients. Every field but the last two is one of the core's channel arguments,
/// passed through unchanged (the values, INT_MAX for "never" included, are chosen in Swift).
typedef struct {
    /// GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH: larger request messages fail with RESOURCE_EXHAUSTED in the core.
    int max_receive_message_bytes;
    /// GRPC_ARG_MAX_CONCURRENT_STREAMS, the SETTINGS_MAX_CONCURRENT_STREAMS the server announces; the shim also
    /// refuses calls beyond twice it on one connection (see mcgrpc_server_refused_call_count).
    int max_concurrent_streams;
    /// GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS: until the client's preface and SETTINGS have arrived.
    int handshake_timeout_milliseconds;
    /// GRPC_ARG_MAX_CONNECTION_IDLE_MS: a connection with no call open for this long gets a GOAWAY and is closed.
    int idle_timeout_milliseconds;
    /// GRPC_ARG_KEEPALIVE_TIME_MS and GRPC_ARG_KEEPALIVE_TIMEOUT_MS: the server's PINGs on connections with calls.
    int keepalive_time_milliseconds;
    int keepalive_timeout_milliseconds;
    /// GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS and GRPC_ARG_HTTP2_MAX_PING_STRIKES: client PINGs
    /// faster than the interval are strikes; past the strikes, GOAWAY ENHANCE_YOUR_CALM and the connection closes.
    int min_ping_interval_milliseconds;
    int max_ping_strikes;
    /// The shim's own timer (the core has none per call on servers): a call whose request message has not fully
    /// arrived this long after its headers is cancelled with DEADLINE_EXCEEDED; 0 for no limit.
    int receive_timeout_milliseconds;
    /// Incoming calls asked for at once, so that a burst of clients does not wait for the loop.
    int pending_calls;
} mcgrpc_server_options;

/// Initialises the gRPC library (reference counted), creates a server listening without TLS on `address`
/// ("host:port", "[::1]:port"; port 0 lets the kernel choose) with `options`, starts it and asks for
/// `options->pending_calls` incoming calls at once. Returns NULL when the address cannot be bound; `*bound_port`
/// receives the port.
mcgrpc_server *mcgrpc_server_start(const char *address, const mcgrpc_server_options *options, int *bound_port);

/// Waits up to `timeout_milliseconds` (negative: forever) for something the caller must act on. Completions that
/// are only bookkeeping (a call arrived: read its message and ask for the next one; an answer was sent: free the
/// call) are handled inside, and so are receive timeouts (the call is cancelled and freed; the caller never sees
/// it). Call from one thread only.
mcgrpc_next_result mcgrpc_server_next(mcgrpc_server *server, int timeout_milliseconds, mcgrpc_call **call);

/// Stops accepting calls (new ones are refused by the core) and asks to be told, through `mcgrpc_server_next`,
/// once no call and no connection remains. Calls whose request message has not fully arrived are cancelled
/// (UNAVAILABLE) at once, so that a client that never finishes one cannot hold the shutdown. Thread-safe; idempotent.
void mcgrpc_server_shutdown(mcgrpc_server *server);
/// Calls handed out by `mcgrpc_server_next` whose answer is not completely sent yet. Once it is 0 after a shutdown,
/// only connections hold the shutdown (the core closes idle ones after a GOAWAY, a client that never reads it after
/// about 20 s). Thread-safe.
int mcgrpc_server_answering_count(mcgrpc_server *server);
/// Calls ended so far by the receive timeout. Thread-safe.
long mcgrpc_server_receive_timeout_count(mcgrpc_server *server);
/// Calls refused so far (RESOURCE_EXHAUSTED) because their connection had twice `max_concurrent_streams` calls
/// unanswered: the core enforces its stream limit only on clients that acknowledged it, the shim (with a margin for
/// cancellations in flight) on all. Thread-safe.
long mcgrpc_server_refused_call_count(mcgrpc_server *server);
/// Cancels every call still in the core (after a drain timeout). Thread-safe.
void mcgrpc_server_cancel_all_calls(mcgrpc_server *server);
/// Shuts the completion queue down; `mcgrpc_server_next` then drains it and returns MCGRPC_NEXT_QUEUE_SHUT_DOWN.
/// Only after MCGRPC_NEXT_SERVER_SHUT_DOWN. A call answered afterwards is cancelled instead (its
/// `mcgrpc_call_respond` returns GRPC_CALL_ERROR_COMPLETION_QUEUE_SHUTDOWN); the server must not be destroyed
/// before every handed-out call has been answered.
void mcgrpc_server_shutdown_queue(mcgrpc_server *server);
/// Frees the server and the queue and releases the library; only after MCGRPC_NEXT_QUEUE_SHUT_DOWN.
void mcgrpc_server_destroy(mcgrpc_server *server);

/// The full method name ("/inference.GRPCInferenceService/ModelInfer"); `*length` receives its byte count. Valid
/// until the call is answered.
const uint8_t *mcgrpc_call_method(const mcgrpc_call *call, size_t *length);
/// The value of the first request metadata entry whose key is `key` (lowercase, as gRPC delivers keys), or NULL.
const uint8_t *mcgrpc_call_metadata(const mcgrpc_call *call, const char *key, size_t *length);
/// Milliseconds left, now, until the client's deadline (its `grpc-timeout`): 0 when it has passed, -1 when the
/// client set none.
int64_t mcgrpc_call_deadline_milliseconds(const mcgrpc_call *call);
/// Whether a request message arrived (a client may half-close without one).
int mcgrpc_call_has_message(const mcgrpc_call *call);
/// The request message's size in bytes (0 without one).
size_t mcgrpc_call_message_length(const mcgrpc_call *call);
/// Copies the request message (its `mcgrpc_call_message_length` bytes) into `destination`.
void mcgrpc_call_copy_message(const mcgrpc_call *call, uint8_t *destination);

/// Answers the call: initial metadata, the response message when `message` is not NULL, then the status (a gRPC
/// status code) with `details` as its message. The bytes are copied. Call exactly once per call, from any thread.
/// Returns 0 when the batch was started (the shim then frees the call once it completes), otherwise the core's
/// grpc_call_error, in which case the call has been freed already.
int mcgrpc_call_respond(mcgrpc_call *call, int status, const char *details, size_t details_length,
                        const uint8_t *message, size_t message_length);

#ifdef __cplusplus
}
#endif
