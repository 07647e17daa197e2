// Extended attributes (setxattr/getxattr), which Swift's Glibc module does not export.
#include <sys/xattr.h>
