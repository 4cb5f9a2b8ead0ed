# Embedded single-node OpenSearch used by `make run` and `make test`.
# Included from the main Makefile; make test/run depend on opensearch-jars.
# Needs a JDK 17+ and Maven 3.8+; the first build downloads ~100 MB into ~/.m2.

OPENSEARCH_LAUNCHER := internal/opensearch/launcher
OPENSEARCH_JAR      := $(OPENSEARCH_LAUNCHER)/target/irflow-opensearch.jar
OPENSEARCH_SOURCES  := $(OPENSEARCH_LAUNCHER)/pom.xml $(shell find $(OPENSEARCH_LAUNCHER)/src -type f 2>/dev/null)
MVN                 ?= mvn

.PHONY: opensearch-jars opensearch-clean

opensearch-jars: $(OPENSEARCH_JAR)

$(OPENSEARCH_JAR): $(OPENSEARCH_SOURCES)
	@command -v $(MVN) >/dev/null || { echo "Maven not found: install it (apt-get install maven) or set MVN=/path/to/mvn" >&2; exit 1; }
	@command -v java >/dev/null || { echo "java not found: install a JDK 17+ (apt-get install openjdk-17-jdk-headless)" >&2; exit 1; }
	@echo "==> building the embedded OpenSearch launcher with Maven (first run downloads ~100 MB)"
	@rm -rf $(OPENSEARCH_LAUNCHER)/target/lib
	$(MVN) -q -B -Dstyle.color=never -f $(OPENSEARCH_LAUNCHER)/pom.xml package dependency:copy-dependencies
	@touch $@

opensearch-clean:
	rm -rf $(OPENSEARCH_LAUNCHER)/target
