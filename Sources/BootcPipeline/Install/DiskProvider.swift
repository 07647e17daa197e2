// Installed disks as the pipeline sees them: plan, install (or find cached), look up. The live
// adapter is the Installer module's DiskInstaller over the disk cache; tests use a fake.

import BootcCore
import Foundation
import Host
import Installer
import Logging
import Podman

package protocol DiskProvider: Sendable {
    /// What install would do, without doing it: nothing is pulled, mounted or written.
    func plan(_ request: InstallRequest, connection: String?) async throws -> CachePlan
    /// Installs the disk, or finds it cached.
    func install(_ request: InstallRequest, connection: String?, progress: ProgressReporter) async throws -> CacheManifest
    /// A complete cache entry, or nil.
    func cached(_ key: String) -> CacheManifest?
}

/// The live DiskProvider: bootc install or the direct installer, cached under `cache`.
package struct InstalledDisks: DiskProvider {
    let runner: any ProcessRunner
    let cache: URL
    let trees: any ImageTrees
    let logger: Logger

    package init(runner: any ProcessRunner, cache: URL, trees: any ImageTrees, logger: Logger) {
        self.runner = runner
        self.cache = cache
        self.trees = trees
        self.logger = logger
    }

    private func installer(connection: String?, progress: ProgressReporter) -> DiskInstaller {
        let bootcPodman = connection.map { Podman(runner: runner, endpoint: .connection($0)) }
        return DiskInstaller(podman: Podman(runner: runner), bootcPodman: bootcPodman, trees: trees, runner: runner,
                             cache: DiskCache(directory: cache), logger: logger, notice: { progress.notice($0) })
    }

    package func plan(_ request: InstallRequest, connection: String?) async throws -> CachePlan {
        try await installer(connection: connection, progress: .silent).plan(request)
    }

    package func install(_ request: InstallRequest, connection: String?, progress: ProgressReporter) async throws -> CacheManifest {
        try await installer(connection: connection, progress: progress).install(
            request, progress: { progress.stage($0) },
            meter: { progress.bar("Writing the root filesystem", done: $0, total: $1) })
    }

    package func cached(_ key: String) -> CacheManifest? {
        let disks = DiskCache(directory: cache)
        // Held for the rest of this process, as install does (a VM is about to use it).
        try? disks.holdInUse(key)
        return disks.lookup(key)
    }
}
