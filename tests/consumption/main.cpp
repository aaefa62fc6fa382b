// Consumer program shared by tests/consumption/{find_package,add_subdirectory,
// fetchcontent}: Fréchet distance of two 2-D Gaussians with commuting
// (diagonal) covariances against the closed form
//   FID = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
#include <mir/mir.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdio>

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

int main() {
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
