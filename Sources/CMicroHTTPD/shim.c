// Thin wrappers around libmicrohttpd for Swift. See CMicroHTTPD.h for why each one exists.
#define _GNU_SOURCE  // dup3
#include "CMicroHTTPD.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct mcd_daemon {
    struct MHD_Daemon *mhd;
    mcd_log_callback log;
    void *log_context;
};

/// MHD hands its logger a format string and a `va_list`; Swift can consume neither, so format here.
static void mcd_log_trampoline(void *cls, const char *format, va_list arguments) {
    struct mcd_daemon *daemon = cls;
    char message[1024];
    int length = vsnprintf(message, sizeof message, format, arguments);
    if (length < 0) {
        return;
    }
    size_t end = strlen(message);
    while (end > 0 && (message[end - 1] == '\n' || message[end - 1] == '\r')) {
        message[--end] = '\0';
    }
    daemon->log(daemon->log_context, message);
}

/// Leaves URLs and query arguments percent-encoded: MHD's default decoder writes "%00" as a NUL byte into a C
/// string, silently truncating the path. The Swift side decodes with explicit lengths instead.
static size_t mcd_unescape_nothing(void *cls, struct MHD_Connection *connection, char *string) {
    (void)cls;
    (void)connection;
    return strlen(string);
}

struct mcd_daemon *mcd_daemon_start(
    const struct mcd_daemon_config *config,
    MHD_AccessHandlerCallback handler,
    void *handler_context,
    MHD_RequestCompletedCallback completed,
    void *completed_context,
    mcd_log_callback log,
    void *log_context,
    enum mcd_start_status *status) {
    struct sockaddr_in address4;
    struct sockaddr_in6 address6;
    const struct sockaddr *address;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;

    memset(&address4, 0, sizeof address4);
    memset(&address6, 0, sizeof address6);
    if (inet_pton(AF_INET, config->host, &address4.sin_addr) == 1) {
        address4.sin_family = AF_INET;
        address4.sin_port = htons(config->port);
        address = (const struct sockaddr *)&address4;
    } else if (inet_pton(AF_INET6, config->host, &address6.sin6_addr) == 1) {
        address6.sin6_family = AF_INET6;
        address6.sin6_port = htons(config->port);
        address = (const struct sockaddr *)&address6;
        flags |= MHD_USE_IPv6;
    } else {
        *status = MCD_START_INVALID_ADDRESS;
        return NULL;
    }

    struct mcd_daemon *daemon = calloc(1, sizeof *daemon);
    if (daemon == NULL) {
        *status = MCD_START_FAILED;
        return NULL;
    }
    daemon->log = log;
    daemon->log_context = log_context;
    if (log != NULL) {
        flags |= MHD_USE_ERROR_LOG;
    }

    struct MHD_OptionItem options[12];
    size_t count = 0;
    if (log != NULL) {
        // The logger comes first so that messages about the other options reach it too.
        options[count++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)&mcd_log_trampoline, daemon};
    }
    options[count++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, completed_context};
    options[count++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)&mcd_unescape_nothing, NULL};
    options[count++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, (void *)address};
    options[count++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, config->thread_count, NULL};
    options[count++] =
        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, config->connection_timeout_seconds, NULL};
    options[count++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, config->connection_limit, NULL};
    options[count++] =
        (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, config->per_ip_connection_limit, NULL};
    options[count++] = (struct MHD_OptionItem){
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)config->connection_memory_limit_bytes, NULL};
    options[count++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, config->listen_backlog, NULL};
    options[count++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    daemon->mhd = MHD_start_daemon(
        flags, config->port, NULL, NULL, handler, handler_context, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (daemon->mhd == NULL) {
        free(daemon);
        *status = MCD_START_FAILED;
        return NULL;
    }
    *status = MCD_START_OK;
    return daemon;
}

uint16_t mcd_daemon_bound_port(struct mcd_daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon->mhd, MHD_DAEMON_INFO_BIND_PORT);
    return info != NULL ? info->port : 0;
}

int mcd_daemon_stop_listening(struct mcd_daemon *daemon) {
    // Not MHD_quiesce_daemon: in 0.9.75 with a pool of epoll workers it races with them. It sets a worker's
    // `was_quiesced`, then removes the listen socket from that worker's epoll set itself; a worker that wakes in
    // between removes it first, and quiesce's own removal fails with ENOENT, which it turns into MHD_PANIC, i.e.
    // abort() (src/microhttpd/daemon.c, MHD_quiesce_daemon; the non-pool branch and MHD_epoll tolerate ENOENT).
    // Seen as a SIGTERM under load that killed the server by a signal instead of draining.
    //
    // Instead the listening socket is closed under MHD: an eventfd that never becomes readable takes its descriptor
    // number (dup3 is atomic). Closing the socket's last descriptor takes it out of every epoll set and makes the
    // kernel refuse new connections, as quiescing did; the workers keep a valid descriptor that never fires, which
    // MHD_stop_daemon closes as its listen socket.
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon->mhd, MHD_DAEMON_INFO_LISTEN_FD);
    if (info == NULL || info->listen_fd == MHD_INVALID_SOCKET) {
        return -1;
    }
    int idle = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (idle < 0) {
        return -1;
    }
    int result = dup3(idle, info->listen_fd, O_CLOEXEC);
    close(idle);
    return result < 0 ? -1 : 0;
}

void mcd_daemon_stop(struct mcd_daemon *daemon) {
    MHD_stop_daemon(daemon->mhd);
    free(daemon);
}

void mcd_connection_suspend(struct MHD_Connection *connection) {
    MHD_suspend_connection(connection);
}

void mcd_connection_resume(struct MHD_Connection *connection) {
    MHD_resume_connection(connection);
}

enum mcd_queue_status mcd_queue_response(
    struct MHD_Connection *connection,
    unsigned int status_code,
    const char *headers,
    size_t header_count,
    const void *body,
    size_t body_size,
    size_t *rejected_headers) {
    // An empty body needs no copy (and MHD accepts NULL for it); anything else is copied so that Swift's buffer
    // only has to live for the duration of this call.
    struct MHD_Response *response = body_size == 0
        ? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
        : MHD_create_response_from_buffer(body_size, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (response == NULL) {
        return MCD_QUEUE_CREATE_FAILED;
    }
    *rejected_headers = 0;
    const char *cursor = headers;
    for (size_t index = 0; index < header_count; index++) {
        const char *name = cursor;
        const char *value = name + strlen(name) + 1;
        cursor = value + strlen(value) + 1;
        if (MHD_add_response_header(response, name, value) != MHD_YES) {
            *rejected_headers += 1;
        }
    }
    enum MHD_Result queued = MHD_queue_response(connection, status_code, response);
    MHD_destroy_response(response);
    return queued == MHD_YES ? MCD_QUEUE_OK : MCD_QUEUE_REFUSED;
}

int mcd_connection_client_address(struct MHD_Connection *connection, char *buffer, size_t buffer_size) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (info == NULL || info->client_addr == NULL || buffer_size == 0) {
        return 0;
    }
    const struct sockaddr *address = info->client_addr;
    const void *raw;
    if (address->sa_family == AF_INET) {
        raw = &((const struct sockaddr_in *)address)->sin_addr;
    } else if (address->sa_family == AF_INET6) {
        raw = &((const struct sockaddr_in6 *)address)->sin6_addr;
    } else {
        return 0;
    }
    return inet_ntop(address->sa_family, raw, buffer, (socklen_t)buffer_size) != NULL;
}

struct mcd_value_iteration {
    mcd_value_callback callback;
    void *context;
};

/// Adapts MHD's iterator (which also passes the value kind and expects a "continue" result) to `mcd_value_callback`.
static enum MHD_Result mcd_value_trampoline(
    void *cls, enum MHD_ValueKind kind, const char *name, size_t name_size, const char *value, size_t value_size) {
    (void)kind;
    const struct mcd_value_iteration *iteration = cls;
    iteration->callback(iteration->context, name, name_size, value, value_size);
    return MHD_YES;
}

void mcd_connection_headers(struct MHD_Connection *connection, mcd_value_callback callback, void *context) {
    struct mcd_value_iteration iteration = {callback, context};
    MHD_get_connection_values_n(connection, MHD_HEADER_KIND, &mcd_value_trampoline, &iteration);
}

void mcd_connection_query_arguments(struct MHD_Connection *connection, mcd_value_callback callback, void *context) {
    struct mcd_value_iteration iteration = {callback, context};
    MHD_get_connection_values_n(connection, MHD_GET_ARGUMENT_KIND, &mcd_value_trampoline, &iteration);
}

const char *mcd_connection_header(struct MHD_Connection *connection, const char *name) {
    return MHD_lookup_connection_value(connection, MHD_HEADER_KIND, name);
}
