// libssh2 and the POSIX socket headers its session needs.
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <termios.h>
#include <sys/ioctl.h>
