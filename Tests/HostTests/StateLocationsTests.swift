// Where state goes for root, for a user (XDG folders) and for PODMAN_BOOTC_STATE_DIR.

import Foundation
@testable import Host
import Testing

@Suite struct StateLocationsTests {
    @Test func aUserKeepsVMsInTheDataHomeAndDisksInTheCacheHome() {
        let defaults = StateLocations.current(environment: ["HOME": "/home/ada"], isRoot: false)
        #expect(defaults.vms.path == "/home/ada/.local/share/podman-bootc/vms")
        #expect(defaults.diskCache.path == "/home/ada/.cache/podman-bootc")
        let xdg = StateLocations.current(environment: ["HOME": "/home/ada", "XDG_DATA_HOME": "/d", "XDG_CACHE_HOME": "/c"], isRoot: false)
        #expect(xdg.vms.path == "/d/podman-bootc/vms")
        #expect(xdg.diskCache.path == "/c/podman-bootc")
        // The XDG spec: relative values are ignored.
        let relative = StateLocations.current(environment: ["HOME": "/home/ada", "XDG_CACHE_HOME": "cache"], isRoot: false)
        #expect(relative.diskCache.path == "/home/ada/.cache/podman-bootc")
    }

    @Test func rootAndAnExplicitFolderKeepEverythingTogether() {
        #expect(StateLocations.current(environment: [:], isRoot: true).diskCache.path == "/var/lib/podman-bootc/cache")
        let explicit = StateLocations.current(environment: ["PODMAN_BOOTC_STATE_DIR": "/s"], isRoot: false)
        #expect(explicit.diskCache.path == "/s/cache")
        #expect(explicit.vms.path == "/s/vms")
    }
}

@Suite struct ProgramLookupTests {
    @Test func diskToolsAreFoundInSbinWhenAUsersPathLacksIt() throws {
        try #require(access("/usr/sbin/sfdisk", X_OK) == 0, "this host has sfdisk in /usr/sbin")
        #expect("\(SubprocessRunner.executable("sfdisk", path: "/usr/bin:/bin"))".contains("/usr/sbin/sfdisk"))
        #expect("\(SubprocessRunner.executable("/opt/x/tool", path: "/usr/bin"))".contains("/opt/x/tool"))
        #expect(!"\(SubprocessRunner.executable("no-such-program-here", path: "/usr/bin"))".contains("/"))
    }
}
