// CMicroHTTPD: libmicrohttpd plus a few prefixed, non-variadic wrappers that Swift can call.
//
// Every symbol added here starts with `mcd_`. The shim holds no policy: it exists only where Swift cannot call
// libmicrohttpd directly (C-variadic functions, `va_list` callbacks, `struct sockaddr` unions, option arrays whose
// union members Swift imports awkwardly) or where one C call replaces several crossings of the language boundary.
// All decisions (limits, status codes, what to do with a request) are made in Swift (RequestStateMachine.swift);
// MicroHTTPDaemon.swift is the only Swift file that calls these functions.
#pragma once

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Settings for `mcd_daemon_start`, mirroring the MHD options we set. Plain integers so Swift can fill it directly.
struct mcd_daemon_config {
    /// Numeric IPv4 ("127.0.0.1", "0.0.0.0") or IPv6 ("::1", "::") address to bind; NUL-terminated.
    const char *host;
    /// TCP port; 0 lets the kernel choose (read it back with `mcd_daemon_bound_port`).
    uint16_t port;
    /// Worker threads, each with its own epoll loop (MHD_OPTION_THREAD_POOL_SIZE); at least 1.
    unsigned int thread_count;
    /// Idle seconds before MHD closes a connection (MHD_OPTION_CONNECTION_TIMEOUT); 0 disables the timeout.
    unsigned int connection_timeout_seconds;
    /// Maximum concurrent connections (MHD_OPTION_CONNECTION_LIMIT).
    unsigned int connection_limit;
    /// Maximum concurrent connections from one IP address (MHD_OPTION_PER_IP_CONNECTION_LIMIT); 0 = unlimited.
    unsigned int per_ip_connection_limit;
    /// Per-connection memory pool (MHD_OPTION_CONNECTION_MEMORY_LIMIT); bounds request line plus headers.
    size_t connection_memory_limit_bytes;
    /// Length of the kernel's queue of not yet accepted connections (MHD_OPTION_LISTEN_BACKLOG_SIZE).
    unsigned int listen_backlog;
};

/// A running daemon: the MHD handle plus the logger trampoline's state, which must outlive every MHD thread.
/// Opaque to Swift; created by `mcd_daemon_start`, freed by `mcd_daemon_stop`.
struct mcd_daemon;

/// Why `mcd_daemon_start` returned NULL.
enum mcd_start_status {
    MCD_START_OK = 0,
    /// `host` is not a numeric IPv4 or IPv6 address.
    MCD_START_INVALID_ADDRESS = 1,
    /// MHD_start_daemon itself failed (port in use, no permission, out of resources...); MHD logged the reason.
    MCD_START_FAILED = 2,
};

/// Receives one formatted libmicrohttpd log line (no trailing newline). Swift cannot consume MHD's `va_list`
/// logger, so the shim formats the message with `vsnprintf` and forwards plain text.
typedef void (*mcd_log_callback)(void *context, const char *message);

/// Starts a daemon: internal polling threads in a pool of `thread_count` epoll workers, with ITC so it can be
/// quiesced, suspend/resume allowed, undecoded URLs, and error logging routed to `log`.
///
/// Exists because `MHD_start_daemon` is C-variadic (Swift cannot call it) and because its socket address, option
/// array and `va_list` logger are easier to build in C.
///
/// @param config daemon settings; read only during the call.
/// @param handler access handler, called for every request (possibly several times per request).
/// @param handler_context passed to `handler` as its `cls`.
/// @param completed called once for every request that `handler` saw, when it finishes or fails.
/// @param completed_context passed to `completed` as its `cls`.
/// @param log receives MHD's error messages (may be NULL).
/// @param log_context passed to `log`.
/// @param status receives why the start failed; MCD_START_OK on success.
/// @return the daemon, or NULL (see `status`).
struct mcd_daemon *mcd_daemon_start(
    const struct mcd_daemon_config *config,
    MHD_AccessHandlerCallback handler,
    void *handler_context,
    MHD_RequestCompletedCallback completed,
    void *completed_context,
    mcd_log_callback log,
    void *log_context,
    enum mcd_start_status *status);

/// The TCP port the daemon listens on (useful when it was started with port 0); 0 if unknown.
/// Wraps `MHD_get_daemon_info(MHD_DAEMON_INFO_BIND_PORT)`, whose result is a union Swift imports poorly.
uint16_t mcd_daemon_bound_port(struct mcd_daemon *daemon);

/// Stops accepting connections: closes the listening socket (the kernel refuses new clients from then on) while
/// connections already open keep being served. Returns 0, or -1 if it could not. Call it once.
/// Replaces `MHD_quiesce_daemon`, which can abort the process in 0.9.75 (see the implementation).
int mcd_daemon_stop_listening(struct mcd_daemon *daemon);

/// Stops the daemon: closes every connection (firing request-completed callbacks), joins the worker threads, then
/// frees `daemon`; no callback runs after it returns. Wraps `MHD_stop_daemon`.
void mcd_daemon_stop(struct mcd_daemon *daemon);

/// Suspends a connection from inside the access handler, so the request can be computed on another thread without
/// blocking the worker's event loop. MHD calls the access handler again (with no upload data) after
/// `mcd_connection_resume`. Wraps `MHD_suspend_connection` (kept here so every MHD entry point shares one prefix).
void mcd_connection_suspend(struct MHD_Connection *connection);

/// Resumes a suspended connection; may be called from any thread. Wraps `MHD_resume_connection`.
void mcd_connection_resume(struct MHD_Connection *connection);

/// Result of `mcd_queue_response`.
enum mcd_queue_status {
    MCD_QUEUE_OK = 0,
    /// MHD could not allocate the response.
    MCD_QUEUE_CREATE_FAILED = 1,
    /// MHD refused to queue the response (bad status code, wrong connection state or thread).
    MCD_QUEUE_REFUSED = 2,
};

/// Creates a response from `body` (copied, so the caller's buffer may go away at once), adds headers, queues it
/// with `status_code` and drops the local reference. Replaces four boundary crossings and a manual
/// `MHD_destroy_response` in Swift with one call.
///
/// @param headers `header_count` pairs packed as "name\0value\0name\0value\0..."; may be NULL when empty.
/// @param rejected_headers receives how many headers MHD refused (for example a manual Content-Length).
enum mcd_queue_status mcd_queue_response(
    struct MHD_Connection *connection,
    unsigned int status_code,
    const char *headers,
    size_t header_count,
    const void *body,
    size_t body_size,
    size_t *rejected_headers);

/// Writes the client's numeric IP address ("127.0.0.1", "::1") into `buffer`; returns 1 on success, 0 otherwise.
/// Exists because the address arrives as a `struct sockaddr` union that needs `inet_ntop` per family.
int mcd_connection_client_address(struct MHD_Connection *connection, char *buffer, size_t buffer_size);

/// Receives one request header or query argument, with explicit lengths (values may contain any byte).
/// `value` is NULL for a query argument without '=' ("?flag").
typedef void (*mcd_value_callback)(
    void *context, const char *name, size_t name_size, const char *value, size_t value_size);

/// Calls `callback` for every request header, in arrival order. Wraps `MHD_get_connection_values_n`.
void mcd_connection_headers(struct MHD_Connection *connection, mcd_value_callback callback, void *context);

/// Calls `callback` for every query argument, in URL order, with '+' already turned into ' ' but percent-escapes
/// left as they were (the daemon's unescape callback does not decode). Wraps `MHD_get_connection_values_n`.
void mcd_connection_query_arguments(struct MHD_Connection *connection, mcd_value_callback callback, void *context);

/// The value of the request header `name` (case-insensitive), or NULL. Wraps `MHD_lookup_connection_value`.
const char *mcd_connection_header(struct MHD_Connection *connection, const char *name);

#ifdef __cplusplus
}
#endif
