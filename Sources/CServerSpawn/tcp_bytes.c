#include "server_spawn.h"
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

int orbit_tcp_bytes(int fd, uint64_t *sent, uint64_t *received) {
    struct tcp_info info;
    socklen_t len = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -1;
    if (len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received) return -1;
    *sent = info.tcpi_bytes_acked;
    *received = info.tcpi_bytes_received;
    return 0;
}
