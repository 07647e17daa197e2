// inotify for `dev`: an editor's save is one change; new folders are watched; cancel is quick.

import Foundation
import Host
import Testing

@Suite struct InputWatcherTests {
    @Test func aBurstOfWritesIsOneChangeAndNewFoldersAreWatched() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".git"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let watcher = try InputWatcher(paths: [root.path])
        #expect(watcher.watchedFolders == 1, ".git is not watched")

        // An editor's save: a temporary file, renamed over the original.
        try Data("a".utf8).write(to: root.appendingPathComponent("Containerfile"), options: .atomic)
        try Data("b".utf8).write(to: root.appendingPathComponent("Containerfile"), options: .atomic)
        let first = try watcher.nextChange(quiet: .milliseconds(100)) { false }
        #expect(first?.contains(root.path + "/Containerfile") == true, "\(first ?? [])")

        try FileManager.default.createDirectory(at: root.appendingPathComponent("files"), withIntermediateDirectories: true)
        _ = try watcher.nextChange(quiet: .milliseconds(100)) { false }
        try Data("c".utf8).write(to: root.appendingPathComponent("files/app.conf"))
        let nested = try watcher.nextChange(quiet: .milliseconds(100)) { false }
        #expect(nested?.contains(root.path + "/files/app.conf") == true, "\(nested ?? [])")

        // Nothing changes: a cancel ends the wait.
        let started = ContinuousClock.now
        #expect(try watcher.nextChange { ContinuousClock.now - started > .milliseconds(300) } == nil)
        #expect(ContinuousClock.now - started < .seconds(2))
    }
}
