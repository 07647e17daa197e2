// Quadlet .build units as podrun reads them: sections, continuations, Environment= forms,
// ${VAR} expansion, naming, the podman build they imply, and file:line errors.

import Foundation
import GoldenFiles
@testable import Invariance
import Testing

@Suite struct QuadletBuildTests {
    /// podrun's own example, verbatim.
    static let seedExample = """
        # /etc/containers/systemd/users/ocrmypdf-image.build

        [Unit]
        Description=Build image for OCRmyPDF

        [X-Build]
        File=/usr/lib/ocrmypdf-image/Dockerfile
        ImageTag=system.local/ocrmypdf-image:latest
        SetWorkingDirectory=/usr/lib/ocrmypdf-image/
        PodmanArgs=--build-arg VERSION=${IMAGE_VERSION} \\
                   --build-arg INVARIANCE_HASH=${INVARIANCE_HASH}

        [Service]
        Environment=IMAGE_VERSION=0.4.0
        Environment=INVARIANCE_HASH=726e31944348130ecf821baad2604e1b6b6e252e72ecbb956aa969710816f1cb
        Type=oneshot

        """

    @Test func parsesTheSeedExample() throws {
        let unit = try QuadletBuild(unit: UnitFile(path: "/etc/containers/systemd/users/ocrmypdf-image.build", text: Self.seedExample))
        #expect(unit.imageTag == "system.local/ocrmypdf-image:latest")
        #expect(unit.declaredHash == "726e31944348130ecf821baad2604e1b6b6e252e72ecbb956aa969710816f1cb")
        #expect(unit.podmanArguments == ["--build-arg", "VERSION=0.4.0", "--build-arg",
                                         "INVARIANCE_HASH=726e31944348130ecf821baad2604e1b6b6e252e72ecbb956aa969710816f1cb"])
        #expect(unit.contextDirectory == "/usr/lib/ocrmypdf-image/")
        #expect(unit.podmanBuildArguments == [
            "podman", "build", "--tag", "system.local/ocrmypdf-image:latest", "--file", "/usr/lib/ocrmypdf-image/Dockerfile",
            "--build-arg", "VERSION=0.4.0", "--build-arg",
            "INVARIANCE_HASH=726e31944348130ecf821baad2604e1b6b6e252e72ecbb956aa969710816f1cb", "/usr/lib/ocrmypdf-image/"])
    }

    @Test func quadletsOwnBuildSectionAndRepeatableFields() throws {
        let text = """
            [Build]
            ImageTag=localhost/app:1
            File=Containerfile
            SetWorkingDirectory=unit
            BuildArg=A=1
            BuildArg=B=two words
            Label=org.example.x=y
            Target=final
            Arch=aarch64
            """
        let unit = try QuadletBuild(unit: UnitFile(path: "/srv/app/app.build", text: text))
        #expect(unit.podmanBuildArguments == ["podman", "build", "--tag", "localhost/app:1", "--file", "/srv/app/Containerfile",
                                              "--build-arg", "A=1", "--build-arg", "B=two words", "--label", "org.example.x=y",
                                              "--target", "final", "--arch", "aarch64", "/srv/app"])
        #expect(unit.declaredHash == nil)
    }

    @Test func environmentForms() throws {
        let text = """
            [Build]
            ImageTag=x
            PodmanArgs=--label "v=${B}" $SPLIT
            [Service]
            Environment="A=one two" B=3
            Environment=C=4 'D=five six'
            Environment=SPLIT="--pull never"
            Environment=B=30
            """
        let unit = try QuadletBuild(unit: UnitFile(path: "/u/x.build", text: text))
        #expect(unit.environment == ["A": "one two", "B": "30", "C": "4", "D": "five six", "SPLIT": "--pull never"])
        #expect(unit.podmanArguments == ["--label", "v=30", "--pull", "never"])
    }

    @Test func continuationsSkipCommentLines() throws {
        let text = "[Build]\nImageTag=x\nPodmanArgs=--a \\\n# a comment\n  --b\n"
        let unit = try QuadletBuild(unit: UnitFile(path: "/u/x.build", text: text))
        #expect(unit.podmanArguments == ["--a", "--b"])
    }

    @Test(arguments: [
        ("ImageTag=x\n", 1, "comes before any [Section] header"),
        ("[Build]\nImageTag\n", 2, "expected Key=Value"),
        ("[Build\nImageTag=x\n", 1, "must look like [Name]"),
        ("[Service]\nType=oneshot\n", 1, "no [Build] section"),
        ("[Build]\nFile=x\n", 1, "no ImageTag="),
        ("[Build]\nImageTag=x\nPodmanArgs=--label \"open\n", 3, "a quote is not closed"),
        ("[Build]\nImageTag=x\n[Service]\nEnvironment=NOVALUE\n", 4, "is not NAME=VALUE"),
    ])
    func errorsNameFileAndLine(text: String, line: Int, message: String) {
        do {
            _ = try QuadletBuild(unit: UnitFile(path: "/u/bad.build", text: text))
            Issue.record("expected an error for \(text.debugDescription)")
        } catch let error as UnitFileError {
            #expect(error.file == "/u/bad.build")
            #expect(error.line == line)
            #expect(error.description.hasPrefix("/u/bad.build:\(line): "))
            #expect(error.message.contains(message), "\(error)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func naming() {
        #expect(QuadletNaming.unitFileName(forImage: "system.local/ocrmypdf-image:latest") == "ocrmypdf-image.build")
        #expect(QuadletNaming.serviceName(forUnitFile: "ocrmypdf-image.build") == "ocrmypdf-image-build.service")
        #expect(QuadletNaming.baseName(ofImage: "registry:5000/a/b@sha256:abc") == "b")
        #expect(QuadletNaming.baseName(ofImage: "plain") == "plain")
    }

    /// Random mutations of real unit files never crash the parser: they parse or throw.
    @Test func fuzzedUnitsNeverCrash() {
        var generator = SeededGenerator(seed: 42)
        let pieces = ["[", "]", "=", "\\", "\n", "\"", "'", "$", "${", "}", "#", ";", " ", "\t", "\r", "é", "\0"]
        let seed = Array(Self.seedExample)
        for _ in 0..<2000 {
            var text = seed
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                let at = Int.random(in: 0...text.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: text.insert(contentsOf: pieces.randomElement(using: &generator)!, at: at)
                case 1: if at < text.count { text.remove(at: at) }
                default: if at < text.count { text.replaceSubrange(at...at, with: pieces.randomElement(using: &generator)!) }
                }
            }
            _ = try? QuadletBuild(unit: UnitFile(path: "/fuzz.build", text: String(text)))
        }
    }
}
