// Consumer program shared by tests/consumption/{find_package,add_subdirectory,
// fetchcontent,find_package_component} and the pkg-config consumer: Fréchet
// distance of two 2-D Gaussians with commuting (diagonal) covariances against
// the closed form
//   FID = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2,
// the generated version header against the version the mir build had
// (MIR_EXPECT_VERSION) and, with MIR_CONSUMER_IO, one call into the io
// target (libzip must link).
#include <mir/mir.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

#ifdef MIR_CONSUMER_IO
#include <mir/io/npz.hpp>

#include <exception>
#include <span>
#endif

#ifndef MIR_EXPECT_LAPACK
#define MIR_EXPECT_LAPACK 0
#endif

// Deliberately warning-prone (a shadowed local, an unused parameter): under
// mir's project flags (-Wall -Wextra -Wshadow -Werror) this would not compile,
// so building it shows that consumers do not inherit those flags.
static int warning_probe(int unused_parameter) {
    int value = 1;
    {
        int value = 2;
        (void)value;
    }
    return value;
}

static bool version_matches() {
    const std::string composed = std::to_string(MIR_VERSION_MAJOR) + "." + std::to_string(MIR_VERSION_MINOR) + "." +
                                 std::to_string(MIR_VERSION_PATCH);
    if (composed != MIR_VERSION_STRING) {
        std::printf("MIR_VERSION_STRING %s disagrees with MAJOR.MINOR.PATCH %s\n", MIR_VERSION_STRING,
                    composed.c_str());
        return false;
    }
#ifdef MIR_EXPECT_VERSION
    if (std::string_view(MIR_VERSION_STRING) != MIR_EXPECT_VERSION) {
        std::printf("MIR_VERSION_STRING is %s, the mir build has %s\n", MIR_VERSION_STRING, MIR_EXPECT_VERSION);
        return false;
    }
#endif
    std::printf("mir version %s\n", MIR_VERSION_STRING);
    return true;
}

#ifdef MIR_CONSUMER_IO
// An empty image is no zip archive: the reader must say so (through libzip).
static bool io_rejects_empty_archive() {
    try {
        (void)mir::io::npz_file::from_bytes(std::span<const std::byte>{}, "empty.npz");
    } catch (const std::exception& e) {
        std::printf("io: %s\n", e.what());
        return true;
    }
    std::printf("FAIL: an empty npz image was accepted\n");
    return false;
}
#endif

int main() {
    if (!version_matches()) return 1;
#ifdef MIR_CONSUMER_IO
    if (!io_rejects_empty_archive()) return 1;
#endif
#if defined(MIR_USE_LAPACK) && MIR_USE_LAPACK
    constexpr bool have_lapack = true;
#else
    constexpr bool have_lapack = false;
#endif
    if (have_lapack != static_cast<bool>(MIR_EXPECT_LAPACK)) {
        std::printf("MIR_USE_LAPACK is %d in the consumer, expected %d\n",
                    static_cast<int>(have_lapack), MIR_EXPECT_LAPACK);
        return 1;
    }

    Eigen::VectorXd mu1(2), mu2(2);
    mu1 << 1.0, 2.0;
    mu2 << 0.5, -1.0;
    const double a1 = 2.0, a2 = 3.0, b1 = 0.5, b2 = 4.0;
    Eigen::MatrixXd S1 = Eigen::MatrixXd::Zero(2, 2), S2 = Eigen::MatrixXd::Zero(2, 2);
    S1(0, 0) = a1;
    S1(1, 1) = a2;
    S2(0, 0) = b1;
    S2(1, 1) = b2;

    const double got = mir::frechet_distance(mu1, S1, mu2, S2);
    const double expected = (mu1 - mu2).squaredNorm() +
                            std::pow(std::sqrt(a1) - std::sqrt(b1), 2) +
                            std::pow(std::sqrt(a2) - std::sqrt(b2), 2);
    const double rel = std::abs(got - expected) / std::abs(expected);
    std::printf("frechet_distance = %.17g, closed form = %.17g, relative error = %.3g (LAPACK %s)\n",
                got, expected, rel, have_lapack ? "on" : "off");
    if (!(rel <= 1e-12)) {
        std::printf("FAIL: relative error above 1e-12\n");
        return 1;
    }
    return warning_probe(0) == 1 ? 0 : 1;
}
