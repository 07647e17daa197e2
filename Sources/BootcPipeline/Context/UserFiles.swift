// Files the user asked for (generated projects, reports) follow the user's own umask, not
// the private one podman-bootc's state gets.

import Host

package enum UserFiles {
    package static func write<T>(_ body: () throws -> T) rethrows -> T {
        try StateAccess.withUserUmask(body)
    }

    /// podman-bootc's own files are private: called once, first thing in the process.
    package static func restrictUmask() {
        StateAccess.restrictUmask()
    }
}
