# orbit-bench plot: disk-over-time. Redraw with `gnuplot disk-over-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
0 0.007813
0.112 1.731172
0.229 3.063066
0.347 4.472736
0.461 5.690452
0.565 6.674405
0.666 8.093875
0.776 9.301102
0.898 10.84789
1.02 11.916197
1.152 13.013866
1.268 14.418367
1.385 16.006512
1.507 17.568387
1.609 18.484178
EOD
$d1 << EOD
0 0.000043
0.144 1.665285
0.273 2.347878
0.391 3.067593
0.5 4.442291
0.604 5.857034
0.724 7.495491
0.84 8.905747
0.956 10.411837
1.085 11.74108
1.211 12.945443
1.368 14.185372
1.496 15.1731
1.622 16.164093
1.67 16.174099
EOD
$d2 << EOD
0 0.024769
0.11 1.544481
0.221 2.838119
0.333 4.079283
0.443 5.136186
0.543 5.85377
0.644 6.634092
0.76 7.556625
0.881 8.4256
0.999 9.23909
1.119 9.982641
1.26 10.716768
1.381 11.536001
1.497 12.314607
1.614 13.07998
1.748 13.830251
1.87 14.699716
1.985 15.586188
2.097 16.19884
EOD
$d3 << EOD
0 0
0.11 0
0.22 0
0.331 0
0.45 0
0.566 0
0.598 0
EOD
$d4 << EOD
0 0.007813
0.111 1.757813
0.216 3.519531
0.329 5.363281
0.438 7.085938
0.539 8.070313
0.648 8.890625
0.763 10.414063
0.878 11.792969
0.994 13.375
1.109 14.851563
1.233 16.363281
1.348 17.785156
1.464 19.070313
1.58 20.28125
1.647 20.746094
EOD
set encoding utf8
set termoption noenhanced
set title "Disk usage over time (bytes of the engine's files)\nrun 20261123-141245-latency-table · workload latency-table · each backend's median repeat of 3 · legend: backend (durability mode)"
set xlabel "time since the load phase started (s)" offset 0,0.4
set ylabel "disk usage (MiB)"
set grid xtics ytics lc rgb "#dddddd"
set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
set datafile missing "?"
set datafile separator whitespace
set yrange [0:*]
set terminal pngcairo size 1100,720 font "DejaVu Sans,10" noenhanced
set output "disk-over-time.png"
plot $d0 using 1:2 with linespoints lc rgb "#1f77b4" dt 1 pt 1 lw 1.5 ps 0.5 title "cow (none)", \
     $d1 using 1:2 with linespoints lc rgb "#2ca02c" dt 1 pt 1 lw 1.5 ps 0.5 title "lsm (none)", \
     $d2 using 1:2 with linespoints lc rgb "#d62728" dt 1 pt 1 lw 1.5 ps 0.5 title "rocksdb (none)", \
     $d3 using 1:2 with linespoints lc rgb "#7f7f7f" dt 1 pt 1 lw 1.5 ps 0.5 title "memory (none)", \
     $d4 using 1:2 with linespoints lc rgb "#9467bd" dt 1 pt 1 lw 1.5 ps 0.5 title "lmdb (none)"
set terminal svg size 1100,720 font "DejaVu Sans,10" noenhanced background rgb "white"
set output "disk-over-time.svg"
replot
unset output
