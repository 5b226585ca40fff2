# orbit-bench plot: p99-over-time. Redraw with `gnuplot p99-over-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
0.127 17.743
EOD
$d1 << EOD
0.25 23.615
0.299 19.503
EOD
$d2 << EOD
0.25 9.599
0.299 9.767
EOD
$d3 << EOD
0.25 2.305
0.299 2.023
EOD
$d4 << EOD
0.113 11.079
EOD
$d5 << EOD
0.236 7.091
EOD
$d6 << EOD
0.236 7.123
EOD
$d7 << EOD
0.236 3.707
EOD
$d8 << EOD
0.219 17.151
EOD
$d9 << EOD
0.25 25.343
0.488 15.935
EOD
$d10 << EOD
0.25 23.759
0.488 14.687
EOD
$d11 << EOD
0.25 7.943
0.488 6.071
EOD
$d12 << EOD
0.053 9.247
EOD
$d13 << EOD
0.145 22.175
EOD
$d14 << EOD
0.145 3.025
EOD
$d15 << EOD
0.145 2.293
EOD
$d16 << EOD
0.168 14.063
EOD
$d17 << EOD
0.25 13.511
0.378 15.335
EOD
$d18 << EOD
0.25 10.007
0.378 10.319
EOD
$d19 << EOD
0.25 1.983
0.378 2.233
EOD
set encoding utf8
set termoption noenhanced
set title "p99 latency over time (per interval)\nrun 20261123-140717-latency-table · workload latency-table · each backend's median repeat of 3 · legend: backend (durability mode)"
set xlabel "time since the load phase started (s)" offset 0,0.4
set ylabel "p99 latency (µs, log scale)"
set grid xtics ytics lc rgb "#dddddd"
set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
set datafile missing "?"
set datafile separator whitespace
set logscale y
set format y "%g"
set terminal pngcairo size 1100,720 font "DejaVu Sans,10" noenhanced
set output "p99-over-time.png"
plot $d0 using 1:2 with linespoints lc rgb "#1f77b4" dt 1 pt 1 lw 1.5 ps 0.6 title "cow (none) load", \
     $d1 using 1:2 with linespoints lc rgb "#1f77b4" dt 2 pt 2 lw 1.5 ps 0.6 title "cow (none) lease_store", \
     $d2 using 1:2 with linespoints lc rgb "#1f77b4" dt 3 pt 3 lw 1.5 ps 0.6 title "cow (none) lease_renew", \
     $d3 using 1:2 with linespoints lc rgb "#1f77b4" dt 4 pt 4 lw 1.5 ps 0.6 title "cow (none) lease_get", \
     $d4 using 1:2 with linespoints lc rgb "#2ca02c" dt 1 pt 1 lw 1.5 ps 0.6 title "lsm (none) load", \
     $d5 using 1:2 with linespoints lc rgb "#2ca02c" dt 2 pt 2 lw 1.5 ps 0.6 title "lsm (none) lease_store", \
     $d6 using 1:2 with linespoints lc rgb "#2ca02c" dt 3 pt 3 lw 1.5 ps 0.6 title "lsm (none) lease_renew", \
     $d7 using 1:2 with linespoints lc rgb "#2ca02c" dt 4 pt 4 lw 1.5 ps 0.6 title "lsm (none) lease_get", \
     $d8 using 1:2 with linespoints lc rgb "#d62728" dt 1 pt 1 lw 1.5 ps 0.6 title "rocksdb (none) load", \
     $d9 using 1:2 with linespoints lc rgb "#d62728" dt 2 pt 2 lw 1.5 ps 0.6 title "rocksdb (none) lease_store", \
     $d10 using 1:2 with linespoints lc rgb "#d62728" dt 3 pt 3 lw 1.5 ps 0.6 title "rocksdb (none) lease_renew", \
     $d11 using 1:2 with linespoints lc rgb "#d62728" dt 4 pt 4 lw 1.5 ps 0.6 title "rocksdb (none) lease_get", \
     $d12 using 1:2 with linespoints lc rgb "#7f7f7f" dt 1 pt 1 lw 1.5 ps 0.6 title "memory (none) load", \
     $d13 using 1:2 with linespoints lc rgb "#7f7f7f" dt 2 pt 2 lw 1.5 ps 0.6 title "memory (none) lease_store", \
     $d14 using 1:2 with linespoints lc rgb "#7f7f7f" dt 3 pt 3 lw 1.5 ps 0.6 title "memory (none) lease_renew", \
     $d15 using 1:2 with linespoints lc rgb "#7f7f7f" dt 4 pt 4 lw 1.5 ps 0.6 title "memory (none) lease_get", \
     $d16 using 1:2 with linespoints lc rgb "#9467bd" dt 1 pt 1 lw 1.5 ps 0.6 title "lmdb (none) load", \
     $d17 using 1:2 with linespoints lc rgb "#9467bd" dt 2 pt 2 lw 1.5 ps 0.6 title "lmdb (none) lease_store", \
     $d18 using 1:2 with linespoints lc rgb "#9467bd" dt 3 pt 3 lw 1.5 ps 0.6 title "lmdb (none) lease_renew", \
     $d19 using 1:2 with linespoints lc rgb "#9467bd" dt 4 pt 4 lw 1.5 ps 0.6 title "lmdb (none) lease_get"
set terminal svg size 1100,720 font "DejaVu Sans,10" noenhanced background rgb "white"
set output "p99-over-time.svg"
replot
unset output
