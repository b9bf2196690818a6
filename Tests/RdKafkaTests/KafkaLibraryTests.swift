import Testing
@testable import RdKafka

@Suite struct KafkaLibraryTests {
    @Test func linksTheSystemLibrardkafka() {
        // Debian 12 ships 2.0.2; anything 2.x has the APIs the Kafka sink uses.
        let version = KafkaLibrary.versionComponents
        #expect(version.major >= 2)
        #expect(KafkaLibrary.version.hasPrefix("\(version.major).\(version.minor)"))
    }
}
