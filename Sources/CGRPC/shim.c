// See CGRPC.h for why this shim exists. Every grpc_* call of the project is in this file.
#include "CGRPC.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/// The calls open on one connection, known by its peer address ("ipv4:127.0.0.1:54321"), while it has any.
typedef struct mcgrpc_peer {
    char *address;
    int open_calls;
    struct mcgrpc_peer *next;
} mcgrpc_peer;

/// Buckets of the server's peer table (a power of two).
#define MCGRPC_PEER_BUCKETS 256

struct mcgrpc_server {
    grpc_server *server;
    grpc_completion_queue *queue;
    /// Its address is the tag of grpc_server_shutdown_and_notify (call tags are mcgrpc_call pointers).
    int shutdown_tag;
    atomic_int is_shutting_down;
    /// Guards `receiving`, `receiving_tail`, `is_cancelling_receivers`, `peers` and every call's `peer` (the loop
    /// thread, a stopping thread and answering threads meet here).
    pthread_mutex_t lock;
    /// Calls whose request message has not arrived yet (STAGE_RECEIVING), linked through `next` / `previous`, oldest
    /// first: with one receive timeout for all, the head is always the next to expire.
    mcgrpc_call *receiving;
    mcgrpc_call *receiving_tail;
    /// Milliseconds a call may take from its headers to its complete request message; 0: no limit.
    int receive_timeout_milliseconds;
    /// Calls ended by that timeout, for the metrics.
    atomic_long receive_timeouts;
    /// The status message of such calls.
    char receive_timeout_message[96];
    /// Set by mcgrpc_server_shutdown: such calls are cancelled at once instead of being waited for.
    int is_cancelling_receivers;
    /// Calls handed to Swift whose answer has not been sent completely yet (STAGE_HANDED_OUT or STAGE_RESPONDING).
    atomic_int answering;
    /// Most calls open at once per connection: twice the stream cap. libgrpc 1.51 enforces its SETTINGS limit only
    /// once the client has acknowledged it, so a client that never does could open streams without bound; the shim
    /// counts unanswered calls per connection and refuses the excess (RESOURCE_EXHAUSTED) at once. Twice, because a
    /// polite client may open its next stream the moment it has cancelled one, before the cancellation reaches the
    /// shim; it must never be refused.
    int max_calls_per_connection;
    /// Set by mcgrpc_server_shutdown_queue: no batch may start any more (the core aborts on one).
    atomic_int is_queue_shut_down;
    /// Batches being started, which mcgrpc_server_shutdown_queue waits out before shutting the queue down.
    atomic_int batches_starting;
    /// The connections with calls open, chained per bucket; guarded by `lock`.
    mcgrpc_peer *peers[MCGRPC_PEER_BUCKETS];
    /// Calls refused by that count, for the metrics.
    atomic_long refused_calls;
    char refused_call_message[96];
};

/// Where a call is in its life; the completion queue reports each stage's batch with the call as its tag.
typedef enum {
    /// Waiting in grpc_server_request_call for a client.
    STAGE_REQUESTED,
    /// A RECV_MESSAGE batch is in flight.
    STAGE_RECEIVING,
    /// Given to Swift, which has not answered yet.
    STAGE_HANDED_OUT,
    /// The answer batch is in flight; freed when it completes.
    STAGE_RESPONDING,
} mcgrpc_stage;

struct mcgrpc_call {
    mcgrpc_server *server;
    mcgrpc_stage stage;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array metadata;
    grpc_byte_buffer *received;
    /// The received message as one contiguous slice (grpc_byte_buffer_reader_readall).
    grpc_slice message;
    int has_message;
    grpc_byte_buffer *response;
    int cancelled;
    /// Cancelled by a shutdown while its message was still arriving: nobody is left to answer.
    int is_cancelled_by_shutdown;
    /// Cancelled (DEADLINE_EXCEEDED) because its message had not arrived within the receive timeout.
    int is_cancelled_by_timeout;
    /// When the receive timeout ends it (monotonic clock), while in STAGE_RECEIVING.
    gpr_timespec receive_deadline;
    /// Counted in the server's `answering` (from hand-out to freeing).
    int is_answering;
    /// Its connection's entry in the server's peer table while counted there (from arrival until its answer or
    /// cancellation starts, or it is freed).
    mcgrpc_peer *peer;
    /// Links of the server's `receiving` list, while in STAGE_RECEIVING.
    mcgrpc_call *next;
    mcgrpc_call *previous;
};

/// The peer table's bucket for an address (FNV-1a).
static mcgrpc_peer **peer_bucket(mcgrpc_server *server, const char *address) {
    uint32_t hash = 2166136261u;
    for (const char *character = address; *character != 0; character++) {
        hash = (hash ^ (uint8_t)*character) * 16777619u;
    }
    return &server->peers[hash & (MCGRPC_PEER_BUCKETS - 1)];
}

/// Counts a call that arrived on its connection; returns 0, counting nothing, when that connection already has
/// `max_calls_per_connection` calls open.
static int peer_acquire(mcgrpc_call *call) {
    mcgrpc_server *server = call->server;
    char *address = grpc_call_get_peer(call->call);
    if (address == NULL) return 1;
    pthread_mutex_lock(&server->lock);
    mcgrpc_peer **bucket = peer_bucket(server, address);
    mcgrpc_peer *peer = *bucket;
    while (peer != NULL && strcmp(peer->address, address) != 0) peer = peer->next;
    int is_admitted = peer == NULL || peer->open_calls < server->max_calls_per_connection;
    if (is_admitted && peer == NULL) {
        peer = calloc(1, sizeof(mcgrpc_peer));
        if (peer != NULL) {
            peer->address = address;
            address = NULL;
            peer->next = *bucket;
            *bucket = peer;
        }
    }
    if (is_admitted && peer != NULL) {
        peer->open_calls++;
        call->peer = peer;
    }
    pthread_mutex_unlock(&server->lock);
    if (address != NULL) gpr_free(address);
    return is_admitted;
}

/// Uncounts a call (once: later calls do nothing); a connection's entry goes with its last call. The caller holds
/// the lock, which guards every call's `peer`.
static void peer_release_locked(mcgrpc_call *call) {
    mcgrpc_peer *peer = call->peer;
    if (peer == NULL) return;
    call->peer = NULL;
    if (--peer->open_calls > 0) return;
    mcgrpc_peer **link = peer_bucket(call->server, peer->address);
    while (*link != peer) link = &(*link)->next;
    *link = peer->next;
    gpr_free(peer->address);
    free(peer);
}

/// Uncounts a call whose stream the client will see end now: answered, cancelled or freed. (Counting until the call
/// is freed instead would refuse a polite client's next call in the moment between its reading the status and the
/// answer's batch completing here.)
static void peer_release(mcgrpc_call *call) {
    pthread_mutex_lock(&call->server->lock);
    peer_release_locked(call);
    pthread_mutex_unlock(&call->server->lock);
}

/// Starts a batch on a call, unless the server's queue has been shut down (the core would abort): then returns
/// GRPC_CALL_ERROR_COMPLETION_QUEUE_SHUTDOWN and the caller frees the call, which cancels it. A late answer (a
/// handler answering after a stop gave up waiting, or a call handed out while the queue drains) thus costs the
/// call, never the process. Lock-free: the counter lets mcgrpc_server_shutdown_queue wait out a start in progress.
static grpc_call_error start_batch(mcgrpc_call *call, const grpc_op *operations, size_t count) {
    mcgrpc_server *server = call->server;
    atomic_fetch_add(&server->batches_starting, 1);
    grpc_call_error error = GRPC_CALL_ERROR_COMPLETION_QUEUE_SHUTDOWN;
    if (!atomic_load(&server->is_queue_shut_down)) {
        error = grpc_call_start_batch(call->call, operations, count, call, NULL);
    }
    atomic_fetch_sub(&server->batches_starting, 1);
    return error;
}

static void call_free(mcgrpc_call *call) {
    if (call->is_answering) atomic_fetch_sub(&call->server->answering, 1);
    peer_release(call);
    if (call->call != NULL) grpc_call_unref(call->call);
    grpc_call_details_destroy(&call->details);
    grpc_metadata_array_destroy(&call->metadata);
    if (call->received != NULL) grpc_byte_buffer_destroy(call->received);
    if (call->has_message) grpc_slice_unref(call->message);
    if (call->response != NULL) grpc_byte_buffer_destroy(call->response);
    free(call);
}

/// Unlinks a call from the server's `receiving` list; the caller holds the lock. A call not on it is left alone.
static void receiving_unlink(mcgrpc_call *call) {
    mcgrpc_server *server = call->server;
    if (call->previous != NULL) {
        call->previous->next = call->next;
    } else if (server->receiving == call) {
        server->receiving = call->next;
    } else {
        return;
    }
    if (call->next != NULL) {
        call->next->previous = call->previous;
    } else {
        server->receiving_tail = call->previous;
    }
    call->next = call->previous = NULL;
}

/// Puts a call that started receiving at the end of the server's list, or cancels it when a shutdown has begun: a
/// client that never sends (or never finishes) its message must not hold the shutdown until the drain timeout.
static void receiving_add(mcgrpc_call *call) {
    mcgrpc_server *server = call->server;
    if (server->receive_timeout_milliseconds > 0) {
        call->receive_deadline = gpr_time_add(
            gpr_now(GPR_CLOCK_MONOTONIC),
            gpr_time_from_millis(server->receive_timeout_milliseconds, GPR_TIMESPAN));
    }
    pthread_mutex_lock(&server->lock);
    if (server->is_cancelling_receivers) {
        call->is_cancelled_by_shutdown = 1;
        grpc_call_cancel_with_status(call->call, GRPC_STATUS_UNAVAILABLE, "the server is shutting down", NULL);
    } else {
        call->next = NULL;
        call->previous = server->receiving_tail;
        if (call->previous != NULL) {
            call->previous->next = call;
        } else {
            server->receiving = call;
        }
        server->receiving_tail = call;
    }
    pthread_mutex_unlock(&server->lock);
}

/// Takes a call off the list once its receive completed (it may not be on it: see receiving_add).
static void receiving_remove(mcgrpc_call *call) {
    mcgrpc_server *server = call->server;
    pthread_mutex_lock(&server->lock);
    receiving_unlink(call);
    pthread_mutex_unlock(&server->lock);
}

/// Ends, with DEADLINE_EXCEEDED, the calls whose request message has not arrived within the receive timeout (a
/// ModelStreamInfer that never sends, an upload that stalls), taking them off the list; their pending receive then
/// completes and frees them. Returns when the next one expires (infinite future when none waits). Loop thread only:
/// it is the only thread that changes the list (mcgrpc_server_shutdown only walks it, under the lock), so the head
/// may be read without the lock, which is then taken only when a call is overdue.
static gpr_timespec cancel_overdue_receivers(mcgrpc_server *server) {
    gpr_timespec never = gpr_inf_future(GPR_CLOCK_MONOTONIC);
    if (server->receive_timeout_milliseconds <= 0 || server->receiving == NULL) return never;
    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(server->receiving->receive_deadline, now) > 0) return server->receiving->receive_deadline;
    pthread_mutex_lock(&server->lock);
    while (server->receiving != NULL && gpr_time_cmp(server->receiving->receive_deadline, now) <= 0) {
        mcgrpc_call *call = server->receiving;
        receiving_unlink(call);
        call->is_cancelled_by_timeout = 1;
        peer_release_locked(call);
        atomic_fetch_add(&server->receive_timeouts, 1);
        grpc_call_cancel_with_status(
            call->call, GRPC_STATUS_DEADLINE_EXCEEDED, server->receive_timeout_message, NULL);
    }
    gpr_timespec next = server->receiving != NULL ? server->receiving->receive_deadline : never;
    pthread_mutex_unlock(&server->lock);
    return next;
}

/// Asks the core for the next incoming call; returns 0 when it could not (shutting down).
static int request_call(mcgrpc_server *server) {
    if (atomic_load(&server->is_shutting_down)) return 0;
    mcgrpc_call *call = calloc(1, sizeof(mcgrpc_call));
    if (call == NULL) return 0;
    call->server = server;
    call->stage = STAGE_REQUESTED;
    grpc_call_details_init(&call->details);
    grpc_metadata_array_init(&call->metadata);
    grpc_call_error error = grpc_server_request_call(
        server->server, &call->call, &call->details, &call->metadata, server->queue, server->queue, call);
    if (error != GRPC_CALL_OK) {
        call_free(call);
        return 0;
    }
    return 1;
}

static void destroy_queue(grpc_completion_queue *queue) {
    grpc_completion_queue_shutdown(queue);
    for (;;) {
        grpc_event event = grpc_completion_queue_next(queue, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (event.type == GRPC_QUEUE_SHUTDOWN) break;
    }
    grpc_completion_queue_destroy(queue);
}

/// One integer channel argument.
static grpc_arg integer_argument(const char *key, int value) {
    grpc_arg argument;
    argument.type = GRPC_ARG_INTEGER;
    argument.key = (char *)key;
    argument.value.integer = value;
    return argument;
}

mcgrpc_server *mcgrpc_server_start(const char *address, const mcgrpc_server_options *options, int *bound_port) {
    grpc_init();
    grpc_arg argument_list[] = {
        integer_argument(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, options->max_receive_message_bytes),
        integer_argument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options->max_concurrent_streams),
        integer_argument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, options->handshake_timeout_milliseconds),
        integer_argument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, options->idle_timeout_milliseconds),
        integer_argument(GRPC_ARG_KEEPALIVE_TIME_MS, options->keepalive_time_milliseconds),
        integer_argument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, options->keepalive_timeout_milliseconds),
        integer_argument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                         options->min_ping_interval_milliseconds),
        integer_argument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, options->max_ping_strikes),
    };
    grpc_channel_args arguments = {sizeof argument_list / sizeof argument_list[0], argument_list};
    grpc_server *handle = grpc_server_create(&arguments, NULL);
    grpc_completion_queue *queue = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(handle, queue, NULL);
    grpc_server_credentials *credentials = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(handle, address, credentials);
    grpc_server_credentials_release(credentials);
    mcgrpc_server *server = port == 0 ? NULL : calloc(1, sizeof(mcgrpc_server));
    if (server == NULL) {
        // Never started, so it may be destroyed without a shutdown.
        grpc_server_destroy(handle);
        destroy_queue(queue);
        grpc_shutdown();
        return NULL;
    }
    server->server = handle;
    server->queue = queue;
    atomic_init(&server->is_shutting_down, 0);
    atomic_init(&server->answering, 0);
    atomic_init(&server->receive_timeouts, 0);
    server->receive_timeout_milliseconds = options->receive_timeout_milliseconds;
    snprintf(server->receive_timeout_message, sizeof server->receive_timeout_message,
             "no complete request message within %d ms; the call is ended", options->receive_timeout_milliseconds);
    server->max_calls_per_connection =
        options->max_concurrent_streams > INT_MAX / 2 ? INT_MAX : 2 * options->max_concurrent_streams;
    atomic_init(&server->is_queue_shut_down, 0);
    atomic_init(&server->batches_starting, 0);
    atomic_init(&server->refused_calls, 0);
    snprintf(server->refused_call_message, sizeof server->refused_call_message,
             "more than %d calls open on this connection", options->max_concurrent_streams);
    pthread_mutex_init(&server->lock, NULL);
    grpc_server_start(handle);
    for (int index = 0; index < options->pending_calls; index++) request_call(server);
    *bound_port = port;
    return server;
}

/// Handles one completion of a call's batch; returns 1 when the call is now Swift's to answer.
static int advance(mcgrpc_call *call, int success) {
    switch (call->stage) {
    case STAGE_REQUESTED: {
        request_call(call->server);  // keep one call requested per one arrived
        if (!success) {  // the server is shutting down
            call_free(call);
            return 0;
        }
        if (!peer_acquire(call)) {
            atomic_fetch_add(&call->server->refused_calls, 1);
            grpc_call_cancel_with_status(
                call->call, GRPC_STATUS_RESOURCE_EXHAUSTED, call->server->refused_call_message, NULL);
            call_free(call);
            return 0;
        }
        grpc_op operation;
        memset(&operation, 0, sizeof operation);
        operation.op = GRPC_OP_RECV_MESSAGE;
        operation.data.recv_message.recv_message = &call->received;
        call->stage = STAGE_RECEIVING;
        if (start_batch(call, &operation, 1) != GRPC_CALL_OK) {
            call_free(call);
            return 0;
        }
        receiving_add(call);
        return 0;
    }
    case STAGE_RECEIVING:
        receiving_remove(call);
        // Cancelled or broken before its message arrived: nobody to answer. One ended by the receive timeout has
        // had its status already, even if its message came in meanwhile.
        if (!success || call->is_cancelled_by_timeout || (call->is_cancelled_by_shutdown && call->received == NULL)) {
            call_free(call);
            return 0;
        }
        if (call->received != NULL) {
            grpc_byte_buffer_reader reader;
            if (!grpc_byte_buffer_reader_init(&reader, call->received)) {
                call_free(call);
                return 0;
            }
            call->message = grpc_byte_buffer_reader_readall(&reader);
            call->has_message = 1;
            grpc_byte_buffer_reader_destroy(&reader);
        }
        call->stage = STAGE_HANDED_OUT;
        call->is_answering = 1;
        atomic_fetch_add(&call->server->answering, 1);
        return 1;
    case STAGE_RESPONDING:
    case STAGE_HANDED_OUT:
        call_free(call);
        return 0;
    }
    return 0;
}

mcgrpc_next_result mcgrpc_server_next(mcgrpc_server *server, int timeout_milliseconds, mcgrpc_call **call) {
    gpr_timespec deadline = timeout_milliseconds < 0
        ? gpr_inf_future(GPR_CLOCK_MONOTONIC)
        : gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_milliseconds, GPR_TIMESPAN));
    for (;;) {
        // Wake up for the next receive timeout too; the core has no per-call timer for servers.
        gpr_timespec next_overdue = cancel_overdue_receivers(server);
        gpr_timespec wait_until = gpr_time_cmp(next_overdue, deadline) < 0 ? next_overdue : deadline;
        grpc_event event = grpc_completion_queue_next(server->queue, wait_until, NULL);
        switch (event.type) {
        case GRPC_QUEUE_SHUTDOWN: return MCGRPC_NEXT_QUEUE_SHUT_DOWN;
        case GRPC_QUEUE_TIMEOUT:
            if (gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), deadline) >= 0) return MCGRPC_NEXT_TIMEOUT;
            break;
        case GRPC_OP_COMPLETE:
            if (event.tag == &server->shutdown_tag) return MCGRPC_NEXT_SERVER_SHUT_DOWN;
            if (advance(event.tag, event.success)) {
                *call = event.tag;
                return MCGRPC_NEXT_CALL;
            }
            break;
        }
    }
}

void mcgrpc_server_shutdown(mcgrpc_server *server) {
    if (atomic_exchange(&server->is_shutting_down, 1)) return;
    grpc_server_shutdown_and_notify(server->server, server->queue, &server->shutdown_tag);
    pthread_mutex_lock(&server->lock);
    server->is_cancelling_receivers = 1;
    for (mcgrpc_call *call = server->receiving; call != NULL; call = call->next) {
        call->is_cancelled_by_shutdown = 1;
        grpc_call_cancel_with_status(call->call, GRPC_STATUS_UNAVAILABLE, "the server is shutting down", NULL);
    }
    pthread_mutex_unlock(&server->lock);
}

int mcgrpc_server_answering_count(mcgrpc_server *server) { return atomic_load(&server->answering); }

long mcgrpc_server_receive_timeout_count(mcgrpc_server *server) { return atomic_load(&server->receive_timeouts); }

long mcgrpc_server_refused_call_count(mcgrpc_server *server) { return atomic_load(&server->refused_calls); }

void mcgrpc_server_cancel_all_calls(mcgrpc_server *server) { grpc_server_cancel_all_calls(server->server); }

void mcgrpc_server_shutdown_queue(mcgrpc_server *server) {
    atomic_store(&server->is_queue_shut_down, 1);
    while (atomic_load(&server->batches_starting) != 0) sched_yield();
    grpc_completion_queue_shutdown(server->queue);
}

void mcgrpc_server_destroy(mcgrpc_server *server) {
    grpc_server_destroy(server->server);
    grpc_completion_queue_destroy(server->queue);
    pthread_mutex_destroy(&server->lock);
    free(server);
    grpc_shutdown();
}

const uint8_t *mcgrpc_call_method(const mcgrpc_call *call, size_t *length) {
    *length = GRPC_SLICE_LENGTH(call->details.method);
    return GRPC_SLICE_START_PTR(call->details.method);
}

const uint8_t *mcgrpc_call_metadata(const mcgrpc_call *call, const char *key, size_t *length) {
    size_t key_length = strlen(key);
    for (size_t index = 0; index < call->metadata.count; index++) {
        const grpc_metadata *entry = &call->metadata.metadata[index];
        if (GRPC_SLICE_LENGTH(entry->key) == key_length
            && memcmp(GRPC_SLICE_START_PTR(entry->key), key, key_length) == 0) {
            *length = GRPC_SLICE_LENGTH(entry->value);
            return GRPC_SLICE_START_PTR(entry->value);
        }
    }
    *length = 0;
    return NULL;
}

int64_t mcgrpc_call_deadline_milliseconds(const mcgrpc_call *call) {
    gpr_timespec deadline = gpr_convert_clock_type(call->details.deadline, GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(deadline, gpr_inf_future(GPR_CLOCK_MONOTONIC)) >= 0) return -1;
    int64_t milliseconds = gpr_time_to_millis(gpr_time_sub(deadline, gpr_now(GPR_CLOCK_MONOTONIC)));
    return milliseconds < 0 ? 0 : milliseconds;
}

int mcgrpc_call_has_message(const mcgrpc_call *call) { return call->has_message; }

size_t mcgrpc_call_message_length(const mcgrpc_call *call) {
    return call->has_message ? GRPC_SLICE_LENGTH(call->message) : 0;
}

void mcgrpc_call_copy_message(const mcgrpc_call *call, uint8_t *destination) {
    if (call->has_message) memcpy(destination, GRPC_SLICE_START_PTR(call->message), GRPC_SLICE_LENGTH(call->message));
}

int mcgrpc_call_respond(mcgrpc_call *call, int status, const char *details, size_t details_length,
                        const uint8_t *message, size_t message_length) {
    grpc_op operations[4];
    memset(operations, 0, sizeof operations);
    size_t count = 0;
    operations[count++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (message != NULL) {
        grpc_slice slice = grpc_slice_from_copied_buffer((const char *)message, message_length);
        call->response = grpc_raw_byte_buffer_create(&slice, 1);
        grpc_slice_unref(slice);
        operations[count].op = GRPC_OP_SEND_MESSAGE;
        operations[count++].data.send_message.send_message = call->response;
    }
    // Not retained past grpc_call_start_batch.
    grpc_slice status_details = grpc_slice_from_copied_buffer(details, details_length);
    operations[count].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    operations[count].data.send_status_from_server.status = (grpc_status_code)status;
    operations[count++].data.send_status_from_server.status_details = &status_details;
    operations[count].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    operations[count++].data.recv_close_on_server.cancelled = &call->cancelled;
    call->stage = STAGE_RESPONDING;
    peer_release(call);  // the client sees this call end now
    grpc_call_error error = start_batch(call, operations, count);
    grpc_slice_unref(status_details);
    if (error != GRPC_CALL_OK) {
        call_free(call);
        return (int)error;
    }
    return 0;
}
