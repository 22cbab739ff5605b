# Sourced: nginx_configure CONFIG WORK FIRST SECOND LISTEN writes WORK/mcdropout.conf, the shipped config CONFIG with
# its two replicas (127.0.0.1:8081 and :8082) replaced by the addresses FIRST and SECOND and its `listen 8080;` by
# `listen LISTEN;` (nothing else is changed), and WORK/nginx.conf around it for `nginx -p WORK -c WORK/nginx.conf`.
# nginx's access log, WORK/access.log, has one line per request: `msec|status|upstream_addr|upstream_status|time`.
# As root, nginx's workers run as nobody, and WORK and its temp directories are made usable for them.
nginx_configure() {
    local config="$1" work="$2" first="$3" second="$4" listen="$5" user="" expected
    mkdir -p "$work/temp"
    sed -e "s/127\.0\.0\.1:8081 /$first /" -e "s/127\.0\.0\.1:8082 /$second /" \
        -e "s/^    listen 8080;/    listen $listen;/" "$config" >"$work/mcdropout.conf"
    for expected in "$first " "$second " "listen $listen;"; do
        grep -qF "$expected" "$work/mcdropout.conf" || { echo "could not set '$expected' in the config" >&2; return 1; }
    done
    if [ "$(id -u)" -eq 0 ]; then
        user="user nobody nogroup;"
        chmod 0755 "$work"
        chown nobody:nogroup "$work/temp"
    fi
    cat >"$work/nginx.conf" <<CONF
$user
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 1024; }
http {
    log_format upstream '\$msec|\$status|\$upstream_addr|\$upstream_status|\$request_time';
    access_log $work/access.log upstream;
    client_body_temp_path $work/temp/body;
    proxy_temp_path $work/temp/proxy;
    fastcgi_temp_path $work/temp/fastcgi;
    uwsgi_temp_path $work/temp/uwsgi;
    scgi_temp_path $work/temp/scgi;
    include $work/mcdropout.conf;
}
CONF
}
