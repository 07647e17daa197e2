// -v HOST_DIR:GUEST_DIR[:ro]: what is accepted, and the fstab.extra credential it gives.

import BootcCore
import Foundation
import Testing

@Suite struct SharedFolderTests {
    @Test func relativeHostFoldersAreResolvedAndPathsNormalized() throws {
        let folder = try #require(SharedFolder(parsing: "src/./app/:/srv//app/:ro", currentFolder: "/home/me/project"))
        #expect(folder == SharedFolder(hostPath: "/home/me/project/src/app", guestPath: "/srv/app", readOnly: true))
        #expect(SharedFolder(parsing: "/data:/data", currentFolder: "/")?.readOnly == false)
        #expect(SharedFolder(parsing: "/data:/data:rw", currentFolder: "/")?.readOnly == false)
    }

    @Test(arguments: ["", "/data", "/data:", ":/data", "/data:relative", "/data:/", "/data:/x:rx", "/data:/x:ro:ro", "/../etc:/x",
                      "/data:/srv/../etc", "/da ta:/x", "/data:/x y", "/data:/x\ny", "/data:/x\\y", "/data:/x\u{7f}"])
    func unsafeOrMalformedSpecsAreRefused(_ text: String) {
        #expect(SharedFolder(parsing: text, currentFolder: "/home/me") == nil, "\(text.debugDescription)")
    }

    @Test func theFstabCredentialMountsEachFolderByItsTag() throws {
        let folders = [SharedFolder(hostPath: "/a", guestPath: "/srv/a", readOnly: false),
                       SharedFolder(hostPath: "/b", guestPath: "/srv/b", readOnly: true)]
        let credential = try #require(folders.fstabCredential)
        #expect(credential.name == "fstab.extra" && !credential.isSecret)
        #expect(String(decoding: credential.value, as: UTF8.self)
                == "podman-bootc-0 /srv/a virtiofs nofail 0 0\npodman-bootc-1 /srv/b virtiofs ro,nofail 0 0\n")
        #expect([SharedFolder]().fstabCredential == nil)
    }
}
